from vidsteal.cli.app import main

main()
