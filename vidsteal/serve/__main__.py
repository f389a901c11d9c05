"""``python -m vidsteal.serve MODEL.safetensors [--keys keys.yaml] [--config serve.yaml] [--set key=value ...]``.

A thin entry point for operators and for tests that need the server in its own process; the project CLI calls
:func:`vidsteal.serve.run.serve` / :func:`run_server` directly.
"""

from __future__ import annotations

import argparse

from vidsteal.config import load_config
from vidsteal.serve.config import ServeConfig
from vidsteal.serve.run import run_server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vidsteal.serve", description=__doc__)
    parser.add_argument("model", help="victim weights (.safetensors written by vidsteal)")
    parser.add_argument("--keys", default=None, help="keys.yaml with hashed API keys (default: open server)")
    parser.add_argument("--config", default=None, help="YAML file of ServeConfig fields")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a ServeConfig field, e.g. --set output_mode.kind=label (repeatable)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--fd", type=int, default=None, help="serve on this inherited, already-bound socket")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-access-log", action="store_true", help="do not log every request")
    args = parser.parse_args(argv)
    overrides = [f"model_path={args.model}", *([f"keys_path={args.keys}"] if args.keys else []), *args.overrides]
    config = load_config(ServeConfig, args.config, overrides)
    run_server(config, host=args.host, port=args.port, log_level=args.log_level, access_log=not args.no_access_log,
               fd=args.fd)


if __name__ == "__main__":
    main()
