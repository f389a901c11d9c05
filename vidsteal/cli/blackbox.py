"""``vidsteal extract blackbox``: data-free extraction (class embeddings over a generator prior, DFME, noise)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from vidsteal.attacks.blackbox import BlackboxAttack
from vidsteal.attacks.registry import ATTACKS, list_attacks
from vidsteal.cli.extract import extract_app
from vidsteal.cli.progress import StageBars, console, make_progress
from vidsteal.cli.victim import ApiKeyOpt, CardOpt, TestDataOpt, VictimOpt, fail, open_victim, user_errors
from vidsteal.config import ConfigError, load_config
from vidsteal.runs import RunMismatch, blackbox_folder

# Every registered black-box attack is a --method choice; `reference` is the ceiling, not an attack: it pays for
# fresh clips of the embedded victim's own distribution.
Method = Enum("Method", {n: n for n in list_attacks() if issubclass(ATTACKS.get(n), BlackboxAttack)}, type=str)


@extract_app.command("blackbox")
def blackbox(
    victim: str = VictimOpt,
    card: Optional[Path] = CardOpt,
    api_key: Optional[str] = ApiKeyOpt,
    test_data: str = TestDataOpt,
    student: str = typer.Option("frame_cnn", help="registered student architecture"),
    budget: int = typer.Option(20_000, min=1, help="victim queries the attack may pay for (exact)"),
    method: Method = typer.Option("embeddings", help="a registered black-box attack; reference = the ceiling "
                                  "(fresh clips of an embedded victim's own distribution)"),
    seed: int = typer.Option(0),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML of the method's config", exists=True),
    set_: Optional[List[str]] = typer.Option(None, "--set", "-s",
                                             help="override a config key, e.g. --set search.mode=gradient"),
    output_mode: str = typer.Option("probs", help="what the victim reveals: probs | topk_probs | topk_labels | "
                                                  "label | rounded"),
    test_size: int = typer.Option(1000, min=1, help="held-out clips for the accuracy-vs-queries curve (at most this "
                                                    "many of --test-data's videos)"),
    runs: Path = typer.Option(Path("runs"), help="folder that holds run folders"),
    run_dir: Optional[Path] = typer.Option(None, help="explicit run folder (default: runs/blackbox_<method>_<hash>)"),
) -> None:
    """Steal a victim with queries only; re-running the same command resumes from the query log."""
    from vidsteal.pipeline.blackbox import BlackboxJob, run_blackbox
    from vidsteal.victims import OutputMode

    cls = ATTACKS.get(method.value).config_class
    try:
        cfg = load_config(cls, config, list(set_ or []) + [f"budget={budget}", f"seed={seed}"])
        job = BlackboxJob(victim=victim, card=None if card is None else str(card), student=student,
                          method=method.value, attack=cfg.to_dict(), output_mode=OutputMode(kind=output_mode),
                          test_data=test_data, test_size=test_size)
    except (ConfigError, ValueError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2)
    folder = run_dir or blackbox_folder(runs, job)
    console.print(f"run folder: {folder}")
    resolved = open_victim(victim, card, api_key, job.output_mode)
    with make_progress() as progress, user_errors():
        report = StageBars(progress)
        try:
            out = run_blackbox(job, folder, progress=report, victim=resolved)
        except (RuntimeError, RunMismatch) as err:  # e.g. gradient mode against a victim that only answers queries
            fail(str(err))
        finally:
            resolved.close()
    m = out["metrics"]
    table = Table(title=f"{method.value} -> {student}, held-out test clips ({test_data})")
    for key in ("top1", "agreement", "victim_top1", "queries", "paid", "white_box"):
        if m.get(key) is not None:
            table.add_row(key, f"{m[key]:.4f}" if isinstance(m[key], float) else str(m[key]))
    search = m.get("search")
    if search:
        table.add_row("classes at threshold", f"{search['classes_reached']} (never: {', '.join(search['never_reached']) or '-'})")
    audit = m.get("audit") or {}
    if audit.get("audit_ledger"):
        table.add_row("audit queries", f"{audit['audit_paid']} paid now, {audit['audit_queries']} in "
                                       f"{audit['audit_ledger']} (not charged to the attack)")
    console.print(table)
    console.print(f"metrics: {folder / 'metrics.json'}  curve: {folder / 'curve.csv'}  samples: {folder / 'samples'}")
