"""The options every command that takes a victim shares, and their one resolver (bad input: one line, exit 2)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NoReturn, Optional

import typer
from rich.markup import escape

from vidsteal.cli.progress import console

VICTIM_HELP = ("the victim: a .safetensors, TorchScript (.ts/.pt) or .pt2 file, module:factory, http://host:port "
               "(vidsteal server) or oip+http://host:port/v2/models/NAME (any Open Inference Protocol v2 server)")
VictimOpt = typer.Option(..., "--victim", help=VICTIM_HELP)
CardOpt = typer.Option(None, "--card", help="the victim's input-contract card (YAML/JSON; default: beside the file)")
ApiKeyOpt = typer.Option(None, "--api-key", envvar="VIDSTEAL_API_KEY", show_envvar=True,
                         help="API key of a remote victim")
TestDataOpt = typer.Option("embedded", "--test-data", help="held-out labeled clips: 'embedded' (an embedded "
                           "victim's benchmark), a class folder DIR/<class>/<videos> or a Kinetics-style CSV")


def fail(message: str) -> NoReturn:
    """Print one line (never wrapped, never read as markup) and exit with code 2."""
    console.print("[red]error:[/red] " + escape(" ".join(str(message).split())), soft_wrap=True, highlight=False)
    raise typer.Exit(2)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user's input causes (spec, data, config, run folder) into one line and exit code 2."""
    from vidsteal.config import ConfigError
    from vidsteal.data.sources import DataSpecError
    from vidsteal.victims.base import OracleError
    from vidsteal.victims.spec import VictimSpecError

    try:
        yield
    except (VictimSpecError, DataSpecError, ConfigError, OracleError, ValueError) as err:
        fail(str(err))  # ValueError: pydantic and run-folder mismatches, i.e. the user's settings


def open_victim(spec: str, card: Optional[Path], api_key: Optional[str], output_mode=None):
    """Resolve ``--victim`` (see :func:`vidsteal.victims.spec.resolve_victim`); a bad spec exits 2 with one line."""
    from vidsteal.victims.spec import VictimSpecError, resolve_victim

    try:
        return resolve_victim(spec, card=card, api_key=api_key, output_mode=output_mode)
    except VictimSpecError as err:
        fail(str(err))
