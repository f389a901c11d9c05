"""The options every command that takes a victim shares, and their one resolver (bad input: one line, exit 2)."""

from __future__ import annotations

import shlex
import sys
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


def load_job(cls, fields: dict, overrides: Optional[list[str]]):
    """The command's config from its typed options (None: the config's default) and ``--set`` overrides."""
    from vidsteal.config import load_config

    with user_errors():
        return load_config(cls, None, [f"{k}={v}" for k, v in fields.items() if v is not None] + list(overrides or []))


def command_line(api_key: Optional[str]) -> str:
    """The exact command, for the report; the API key is never written down."""
    return "vidsteal " + " ".join(shlex.quote("<api-key>" if a == api_key else a) for a in sys.argv[1:])


def with_bars(call, victim):
    """``call(progress)`` under rich progress bars, user errors as one line; the resolved victim is closed after."""
    from vidsteal.cli.progress import StageBars, make_progress

    try:
        with make_progress() as progress, user_errors():
            return call(StageBars(progress))
    finally:
        victim.close()
