"""``vidsteal defend``: every defence setting against every attack at one budget; the owner's trade-off table."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from vidsteal.cli import victim as spec
from vidsteal.cli.progress import console


def defend(
    victim: str = spec.VictimOpt,
    test_data: str = spec.TestDataOpt,
    card: Optional[Path] = spec.CardOpt,
    api_key: Optional[str] = spec.ApiKeyOpt,
    budget: int = typer.Option(..., min=1, help="victim queries each attack may pay for, under every defence"),
    defences: Optional[str] = typer.Option(None, help="comma-separated settings, each none | topK | label | roundD | "
                                          "noise:STD | poison:TAU | prada | prada-block (default: none, top5, "
                                          "label, round2, noise:0.02, noise:0.1, poison:0.5, poison:0.8, prada, "
                                          "prada-block)"),
    attacks: str = typer.Option("embeddings,dfme,noise", help="comma-separated black-box attacks; 'reference' "
                                "adds a thief paying for clips of the victim's own distribution (embedded victims)"),
    aux: Optional[str] = typer.Option(None, help="unlabeled videos (any layout) or 'embedded': adds grey-box KD"),
    student: str = typer.Option("frame_cnn", help="student architecture of every attack"),
    seeds: str = typer.Option("0", help="comma-separated seeds; every cell runs once per seed"),
    test_size: int = typer.Option(1000, min=1, help="test clips (embedded), or at most this many test videos"),
    serve: bool = typer.Option(False, "--serve", help="deploy each setting in a real victim server and attack it "
                                                      "over HTTP (needs a model file)"),
    set_: Optional[List[str]] = typer.Option(None, "--set", "-s", help="override a DefendConfig key, e.g. "
                                             "--set prada.delta=0.95 or --set blackbox.distill.final_epochs=1"),
    runs: Path = typer.Option(Path("runs"), help="folder that holds run folders"),
) -> None:
    """Which defence should I switch on, what does it cost honest users, how much does it slow a thief?"""
    from vidsteal.pipeline.defend import DefendConfig, run_defend
    from vidsteal.victims.outputs import OutputMode

    fields = {"victim": victim, "card": card, "test_data": test_data, "budget": budget, "student": student,
              "defences": None if defences is None else f"[{defences}]", "attacks": f"[{attacks}]", "aux": aux,
              "seeds": f"[{seeds}]", "test_size": test_size, "serve": serve}
    cfg = spec.load_job(DefendConfig, fields, set_)
    resolved = spec.open_victim(victim, card, api_key, OutputMode())  # the defences act on full probabilities
    command = spec.command_line(api_key)
    console.print(f"defence matrix folder: {cfg.run_dir(runs)}", soft_wrap=True)
    result = spec.with_bars(lambda bars: run_defend(cfg, runs, victim=resolved, progress=bars, command=command),
                            resolved)
    from vidsteal.report.defence import matrix_table

    table = matrix_table(result["rows"])
    shown = Table(title=f"{table.title} (victim top-1 {100 * result['victim_top1']:.1f}%, budget {cfg.budget})")
    for i, col in enumerate(table.header):
        shown.add_column(col, no_wrap=i == 0)
    for row in table.body:
        shown.add_row(*row)
    console.print(shown)
    folder = cfg.run_dir(runs)
    console.print(f"report: {folder / 'report.html'}  table: {folder / 'matrix.csv'}  "
                  f"({result['wall_seconds']:.0f} s)", soft_wrap=True)
