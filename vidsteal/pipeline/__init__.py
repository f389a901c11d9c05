"""End-to-end jobs that chain library stages (the CLI's ``demo`` is one of them)."""
