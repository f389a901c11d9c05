"""The ``vidsteal`` command: a thin typed layer over the library (config -> library call -> printed result)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from vidsteal.cli.audit import audit as audit_command
from vidsteal.cli.defend import defend as defend_command
from vidsteal.cli.extract import extract_app
from vidsteal.cli import greybox as _greybox  # noqa: F401,E402  (registers `vidsteal extract greybox`)
from vidsteal.cli import blackbox as _blackbox  # noqa: F401,E402  (registers `vidsteal extract blackbox`)
from vidsteal.cli.progress import StageBars, TrainProgress, console, make_progress
from vidsteal.cli.victim import VICTIM_HELP, ApiKeyOpt, CardOpt, TestDataOpt, open_victim, user_errors
from vidsteal.cli.victim import fail as _fail
from vidsteal.config import ConfigError, load_config
from vidsteal.models import list_models, load_model, read_card
from vidsteal.runs import baselines_folder, study_folder, train_folder

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="vidsteal: measure how easily a video classifier can be stolen through its query API.")

app.add_typer(extract_app, name="extract")
app.command("audit")(audit_command)
app.command("defend")(defend_command)

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config file", exists=True, dir_okay=False)
SetOpt = typer.Option(None, "--set", "-s", help="override a config key, e.g. --set optim.epochs=5 (repeatable)")
RunsOpt = typer.Option(Path("runs"), "--runs", help="folder that holds run folders")


@app.command("train-victim")
def train_victim(
    config: Optional[Path] = ConfigOpt,
    set_: Optional[List[str]] = SetOpt,
    arch: Optional[str] = typer.Option(None, help="model name; shortcut for --set arch=NAME"),
    runs: Path = RunsOpt,
) -> None:
    """Train a model with real labels on the embedded benchmark and evaluate it on the held-out split."""
    from vidsteal.train.supervised import SupervisedConfig, train_supervised

    overrides = list(set_ or []) + ([f"arch={arch}"] if arch else [])
    try:
        cfg = load_config(SupervisedConfig, config, overrides)
    except ConfigError as err:
        _fail(str(err))
    run_dir = train_folder(runs, cfg)
    console.print(f"run folder: {run_dir}")
    with make_progress() as progress:
        result = train_supervised(cfg, run_dir, callbacks=[TrainProgress(progress, cfg.arch, cfg.optim.epochs)])
    console.print(f"{cfg.arch}: test top-1 {result['top1']:.3f}  top-5 {result['top5']:.3f}  "
                  f"({result['train_seconds']:.0f} s training, {result['train_clips']} clips)")
    console.print(f"weights: {run_dir / 'model.safetensors'}")


@app.command()
def evaluate(
    model: Optional[Path] = typer.Argument(None, help="a model .safetensors written by vidsteal (e.g. a student); "
                                                      "optional with --victim", exists=True, dir_okay=False),
    victim: Optional[str] = typer.Option(None, "--victim", help=VICTIM_HELP),
    card: Optional[Path] = CardOpt,
    api_key: Optional[str] = ApiKeyOpt,
    test_data: str = TestDataOpt,
    reference: Optional[Path] = typer.Option(None, help="second model (e.g. the victim): report agreement with it"),
    test_size: int = typer.Option(2000, help="held-out clips (embedded), or at most this many test videos"),
    seed: int = typer.Option(0, help="benchmark seed (the test split never overlaps the training split)"),
    out: Optional[Path] = typer.Option(None, help="write the metrics JSON here"),
    runs: Path = RunsOpt,
) -> None:
    """Top-1 of a victim (--victim) and/or a model on held-out clips: the embedded benchmark or your own videos.

    A remote victim's answers on the test clips are audit queries, paid once and kept in runs/audit_queries."""
    from vidsteal.data.sources import resolve_test_data
    from vidsteal.eval.evaluate import evaluate as run_evaluate
    from vidsteal.eval.evaluate import predict
    from vidsteal.eval.metrics import agreement
    from vidsteal.pipeline.measure import AUDIT_QUERIES, yardstick

    if model is None and victim is None:
        _fail("give a model file, --victim SPEC, or both")
    result: dict = {}
    with user_errors():
        net = load_model(model) if model else None
        ref = load_model(reference) if reference else None
        if victim is not None:
            v = open_victim(victim, card, api_key)
            try:
                yard = yardstick(v, test_data, runs / AUDIT_QUERIES, size=test_size, seed=seed)
            finally:
                v.close()
            test, result = yard.test_set, yard.summary()
        else:
            test = resolve_test_data(test_data, read_card(model), size=test_size, seed=seed)  # type: ignore[arg-type]
        if net is not None:
            result.update(run_evaluate(net, test, reference=ref))
            if victim is not None:
                result["agreement"] = agreement(predict(net, test)[0], yard.victim_logits)
    title = f"{victim or model} on {len(test)} held-out clips ({test_data})"
    table = Table(title=title)
    for key in ("victim_top1", "top1", "top5", "reference_top1", "agreement", "audit_paid", "audit_queries"):
        if result.get(key) is not None:
            table.add_row(key, f"{result[key]:.4f}" if isinstance(result[key], float) else str(result[key]))
    console.print(table)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))


@app.command("export-benchmark")
def export_benchmark(
    out: Path = typer.Argument(..., help="folder to write class-per-folder video files into"),
    split: str = typer.Option("test", help="train | val | test | aux (the unlabeled irrelevant set)"),
    n: int = typer.Option(200, help="number of clips"),
    fmt: str = typer.Option("mp4", "--format", help="mp4 | webm"),
    config: Optional[Path] = ConfigOpt,
    set_: Optional[List[str]] = SetOpt,
    seed: int = typer.Option(0),
) -> None:
    """Write embedded-benchmark clips as real video files (readable by VideoFolder / UnlabeledVideoFolder)."""
    from vidsteal.data.embedded import make_auxiliary, make_split
    from vidsteal.data.export import export_clips
    from vidsteal.data.synthetic import BenchmarkConfig

    try:
        bench = load_config(BenchmarkConfig, config, set_ or [])
    except ConfigError as err:
        _fail(str(err))
    if split not in ("train", "val", "test", "aux"):
        _fail(f"--split must be train, val, test or aux, got {split!r}")
    data = make_auxiliary(bench, n, seed) if split == "aux" else make_split(bench, split, n, seed)
    with make_progress() as progress:
        task = progress.add_task("encoding", total=n, info="")
        export_clips(data, out, ext=f".{fmt}", on_clip=lambda done, total: progress.update(task, completed=done))
    console.print(f"wrote {n} clips to {out}")


@app.command()
def serve(
    model: str = typer.Option(..., "--model", help="the victim: a .safetensors, TorchScript (.ts/.pt) or .pt2 file "
                                                   "with its card beside it, or module:factory"),
    keys: Optional[Path] = typer.Option(None, "--keys", help="keys.yaml (hashed API keys, budgets, rates)"),
    host: str = typer.Option("127.0.0.1", help="bind address"),
    port: int = typer.Option(8000),
    config: Optional[Path] = ConfigOpt,
    set_: Optional[List[str]] = SetOpt,
) -> None:
    """Serve a victim over HTTP: vidsteal JSON API + Open Inference Protocol v2, with keys, budgets, defences."""
    from vidsteal.serve import ServeConfig, run_server

    overrides = list(set_ or []) + [f"model_path={model}"] + ([f"keys_path={keys}"] if keys else [])
    try:
        cfg = load_config(ServeConfig, config, overrides)
    except ConfigError as err:
        _fail(str(err))
    if "://" in model:
        _fail(f"serve needs a model file or module:factory, not the endpoint {model}")
    open_victim(model, None, None).close()  # a bad file fails here in one line, before the server starts
    console.print(f"serving {model} on http://{host}:{port} (OpenAPI at /docs)")
    run_server(cfg, host=host, port=port)


@app.command("list-models")
def list_models_cmd(pattern: str = typer.Argument("*", help="shell-style wildcard")) -> None:
    """Registered model names."""
    for name in list_models(pattern):
        print(name)


@app.command()
def demo(
    runs: Path = RunsOpt,
    quick: bool = typer.Option(False, help="toy sizes: the same path in a couple of minutes"),
    config: Optional[Path] = ConfigOpt,
    set_: Optional[List[str]] = SetOpt,
    workers: int = typer.Option(min(2, os.cpu_count() or 1), min=1,
                                help="processes running independent stages side by side (they share the torch "
                                     "threads); 1 runs every stage in this process, in order"),
) -> None:
    """The reference study on the embedded benchmark: two victims, black box and grey box, one report."""
    import shlex
    import sys

    from vidsteal.pipeline.study import StudyConfig, run_study

    try:
        cfg = load_config(StudyConfig, config, set_ or [], base=StudyConfig.quick() if quick else None)
    except ConfigError as err:
        _fail(str(err))
    run_dir = study_folder(runs, cfg)
    console.print(f"run folder: {run_dir}")
    command = "vidsteal " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with make_progress() as progress:
        report = StageBars(progress)
        study = run_study(cfg, run_dir, progress=report, command=command, workers=workers,
                          victim_callbacks=lambda arch, epochs: TrainProgress(progress, f"victim {arch}", epochs))
    _print_study(study)
    console.print(f"report: {run_dir / 'report.html'}  ({study.wall_seconds:.0f} s, peak RSS "
                  f"{study.peak_rss_mb:.0f} MB)")


def _print_study(study) -> None:
    from vidsteal.report.render import table_rows

    header, body = table_rows(study)
    table = Table(title=study.title + " (top-1 / agreement / queries, held-out clips)")
    for col in header:
        table.add_column(col)
    for row in body:
        table.add_row(*row)
    console.print(table)


@app.command()
def report(run_dir: Path = typer.Argument(..., help="a demo run folder (holds study.json)")) -> None:
    """Re-render report.md and report.html from a study run folder."""
    from vidsteal.report.render import rerender

    try:
        md, page = rerender(run_dir)
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err))
    console.print(f"wrote {md} and {page}")


@app.command()
def compare(run_dirs: List[Path] = typer.Argument(..., help="study run folders to put side by side")) -> None:
    """One table with the studies of several run folders, cell by cell."""
    from vidsteal.report.study import Study

    table = Table(title="student top-1 (held-out) per run")
    table.add_column("method / victim")
    studies = []
    for d in run_dirs:
        path = d / "study.json"
        if not path.exists():
            _fail(f"{d} has no study.json")
        studies.append(Study.model_validate_json(path.read_text()))
        table.add_column(str(d))
    keys = sorted({(m, v) for s in studies for m, cells in s.rows.items() for v in cells})
    for method, victim in keys:
        cells = [s.rows.get(method, {}).get(victim) for s in studies]
        table.add_row(f"{method} / {victim}", *["–" if c is None else f"{100 * c.top1:.1f}%" for c in cells])
    console.print(table)


@app.command("labeled-baselines")
def labeled_baselines(
    runs: Path = RunsOpt,
    quick: bool = typer.Option(False, help="tiny sizes: the same path in about a minute"),
) -> None:
    """Victim plus labeled-data students (per-frame vs 3D): how much the benchmark needs motion."""
    from vidsteal.pipeline.baselines import BaselinesConfig, run_baselines

    cfg = BaselinesConfig.quick() if quick else BaselinesConfig()
    with make_progress() as progress:
        result = run_baselines(cfg, baselines_folder(runs, cfg),
                          progress_factory=lambda label, epochs: TrainProgress(progress, label, epochs))
    table = Table(title="embedded benchmark: models trained with real labels, held-out test split")
    factors = [k for k in result["rows"][0] if k.endswith("_acc")]
    for col in ("model", "role", "top-1", "top-5", "motion classes top-1", *[f.replace("_", " ") for f in factors],
                "train s"):
        table.add_column(col)
    for row in result["rows"]:
        motion = row["motion_class_top1"]
        table.add_row(row["arch"], row["role"], f"{row['top1']:.3f}", f"{row['top5']:.3f}",
                      "–" if motion is None else f"{motion:.3f}", *[f"{row[f]:.3f}" for f in factors],
                      f"{row['train_seconds']:.0f}")
    console.print(table)
    for what, ratio in result["per_frame_over_3d"].items():
        console.print(f"per-frame / 3D student, {what.replace('_', ' ')}: {ratio:.2f}")
    console.print(f"results: {result['run_dir']}/summary.json")


def main() -> None:
    app()
