"""``vidsteal extract greybox``: auxiliary-set KD, fine-tuning on a labeled fraction, lottery-ticket search."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from vidsteal.cli.extract import extract_app
from vidsteal.cli.progress import StageBars, console, make_progress
from vidsteal.cli.victim import ApiKeyOpt, CardOpt, TestDataOpt, VictimOpt, open_victim, user_errors
from vidsteal.config import load_config

ROWS = (("kd", "aux-set KD"), ("finetune", "dense fine-tune"),
        ("dense_best", "dense fine-tune, best of as many seeds (val)"), ("ticket", "winning ticket"),
        ("reinit", "ticket mask, random re-init"), ("random_mask", "random mask, same sparsity"),
        ("scratch", "labeled only (no queries)"))


@extract_app.command("greybox")
def greybox(
    victim: str = VictimOpt,
    card: Optional[Path] = CardOpt,
    api_key: Optional[str] = ApiKeyOpt,
    test_data: str = TestDataOpt,
    aux: Optional[str] = typer.Option(None, help="unlabeled irrelevant clips: 'embedded' (default) or a folder of "
                                                 "videos (any layout)"),
    labeled: Optional[str] = typer.Option(
        None, help="victim-domain labeled clips: 'embedded' (default), a class folder DIR/<class>/<videos> or a "
                   "Kinetics-style CSV; classes are matched to the victim's by name"),
    labeled_fraction: Optional[float] = typer.Option(
        None, help="share of the labeled data the attacker holds, stratified by class (default 0.05)"),
    stages: Optional[str] = typer.Option(
        None, help="comma-separated from kd, finetune, lottery, scratch (default kd,finetune,lottery)"),
    student: Optional[str] = typer.Option(None, help="student architecture, see list-models (default frame_cnn)"),
    budget: Optional[int] = typer.Option(None, help="victim queries allowed in total (default 20000)"),
    aux_size: Optional[int] = typer.Option(None, help="auxiliary clips to query (default 2000)"),
    seed: Optional[int] = typer.Option(None, help="seed of the labeled subset, inits and data order (default 0)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML GreyboxRun config", exists=True,
                                          dir_okay=False),
    set_: Optional[List[str]] = typer.Option(
        None, "--set", "-s", help="override a config key, e.g. --set attack.lottery.target_sparsity=0.9"),
    runs: Path = typer.Option(Path("runs"), help="folder that holds run folders"),
) -> None:
    """Grey-box extraction; re-running the same command resumes (paid queries are never paid again)."""
    from vidsteal.pipeline.greybox import GreyboxRun, run_greybox, with_victim_benchmark

    # Flags given on the command line win over the config file; flags left out keep the file's (or default) value.
    flags = {"student": student, "attack.seed": seed, "attack.budget": budget, "attack.data.aux": aux,
             "attack.data.labeled": labeled, "attack.data.labeled_fraction": labeled_fraction,
             "attack.data.aux_size": aux_size, "attack.stages": None if stages is None else f"[{stages}]"}
    flags |= {"victim": victim, "card": card, "test_data": test_data}
    overrides = [f"{key}={value}" for key, value in flags.items() if value is not None]
    with user_errors():
        cfg = load_config(GreyboxRun, config, overrides + list(set_ or []))
    resolved = open_victim(victim, card, api_key, cfg.output_mode)
    try:
        with user_errors():
            cfg = with_victim_benchmark(cfg, resolved.card)
        run_dir = cfg.run_dir(runs)
        console.print(f"run folder: {run_dir}")
        with make_progress() as progress, user_errors():
            result = run_greybox(cfg, runs, victim=resolved, progress=StageBars(progress))
    finally:
        resolved.close()
    table = Table(title=f"grey-box extraction of {victim} into {cfg.student} (held-out test clips: {test_data})")
    for col in ("method", "top-1", "agreement", "sparsity"):
        table.add_column(col)
    for key, label in ROWS:
        if key in result.metrics:
            m = result.metrics[key]
            table.add_row(label, f"{m.get('top1', float('nan')):.3f}", f"{m.get('agreement', float('nan')):.3f}",
                          f"{m.get('sparsity', 0.0):.2f}")
    if "victim_top1" in result.metrics:
        table.add_row("victim", f"{result.metrics['victim_top1']:.3f}", "", "")
    console.print(table)
    console.print(f"queries paid: {result.queries}   metrics: {run_dir / 'metrics.json'}"
                  + (f"   curve: {run_dir / 'sparsity_accuracy.csv'}" if result.curve else ""))
