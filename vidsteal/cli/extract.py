"""``vidsteal extract ...``: the attack commands. Each attack family adds its command to ``extract_app``."""

from __future__ import annotations

import typer

extract_app = typer.Typer(no_args_is_help=True, help="Run an extraction attack against a victim.")
