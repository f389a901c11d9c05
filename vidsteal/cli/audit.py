"""``vidsteal audit``: every black-box method (and the grey-box stages with --aux) against one victim, one report."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from vidsteal.cli.progress import console
from vidsteal.cli.victim import (ApiKeyOpt, CardOpt, TestDataOpt, VictimOpt, command_line, load_job, open_victim,
                                 with_bars)


def audit(
    victim: str = VictimOpt,
    card: Optional[Path] = CardOpt,
    api_key: Optional[str] = ApiKeyOpt,
    test_data: str = TestDataOpt,
    budget: int = typer.Option(..., min=1, help="victim queries each attack may pay for (exact; audit queries "
                                               "that measure the victim are counted apart)"),
    methods: str = typer.Option("noise,dfme,embeddings,prior", help="comma-separated black-box methods"),
    student: str = typer.Option("frame_cnn", help="student architecture of every attack"),
    aux: Optional[str] = typer.Option(None, help="unlabeled videos (any layout): adds grey-box KD"),
    labeled: Optional[str] = typer.Option(None, help="labeled videos (class folder or CSV): adds grey-box "
                                                     "fine-tuning and the lottery ticket (needs --aux)"),
    labeled_fraction: float = typer.Option(0.05, help="share of --labeled the attacker holds"),
    ceiling_data: Optional[str] = typer.Option(None, help="clips of the victim's own distribution (a folder, "
                                               "disjoint from --test-data; 'embedded' for an embedded victim): adds "
                                               "the ceiling, the same student and budget on them"),
    test_size: int = typer.Option(1000, min=1, help="test clips (embedded), or at most this many test videos"),
    output_mode: str = typer.Option("probs", help="what the victim reveals: probs | topk_probs | topk_labels | "
                                                  "label | rounded"),
    seed: int = typer.Option(0),
    set_: Optional[List[str]] = typer.Option(None, "--set", "-s", help="override an audit config key, e.g. "
                                             "--set blackbox.distill.final_epochs=1 (see AuditConfig)"),
    runs: Path = typer.Option(Path("runs"), help="folder that holds run folders"),
) -> None:
    """How easily can this victim be stolen at this budget? Writes report.md / report.html; re-running resumes."""
    from vidsteal.pipeline.audit import AuditConfig, run_audit

    fields = {"victim": victim, "card": card, "test_data": test_data, "budget": budget, "student": student,
              "methods": f"[{methods}]", "aux": aux, "labeled": labeled, "labeled_fraction": labeled_fraction,
              "ceiling_data": ceiling_data, "test_size": test_size, "output_mode.kind": output_mode, "seed": seed}
    cfg = load_job(AuditConfig, fields, set_)
    resolved = open_victim(victim, card, api_key, cfg.output_mode)
    command = command_line(api_key)
    console.print(f"audit folder: {cfg.run_dir(runs)}", soft_wrap=True)
    study = with_bars(lambda bars: run_audit(cfg, runs, victim=resolved, progress=bars, command=command), resolved)
    table = Table(title=f"{study.title}: student top-1 / agreement / queries paid (test: {test_data})")
    for col in ("row", "top-1", "agreement", "queries"):
        table.add_column(col)
    table.add_row("victim's own top-1", f"{100 * study.victims['victim'].top1:.1f}%", "", "")
    for label, cells in study.rows.items():
        cell = cells["victim"]
        agreement = "–" if cell.agreement is None else f"{100 * cell.agreement:.1f}%"
        table.add_row(label, f"{100 * cell.top1:.1f}%", agreement, str(cell.queries))
    console.print(table)
    for note in study.notes:
        console.print(note, soft_wrap=True, highlight=False, markup=False)
    console.print(f"report: {cfg.run_dir(runs) / 'report.html'}  ({study.wall_seconds:.0f} s)")
