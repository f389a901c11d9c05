"""The whole reference study on the embedded benchmark: victims, black-box and grey-box extraction, one report.

``run_study(cfg, run_dir)`` is the library call behind ``vidsteal demo``. Every stage is its own resumable run
folder (victims under the runs root, attacks under ``run_dir``), so a killed demo continues where it stopped and
re-running it only re-renders the report.
"""

from __future__ import annotations

import functools
import resource
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import yaml
from pydantic import Field, TypeAdapter

from vidsteal import runs
from vidsteal.attacks.base import Progress
from vidsteal.attacks.greybox import GreyboxConfig
from vidsteal.config import BaseConfig
from vidsteal.pipeline.blackbox import BlackboxJob, run_blackbox
from vidsteal.pipeline.greybox import GreyboxRun, run_greybox
from vidsteal.pipeline.victims import embedded_victim
from vidsteal.data.embedded import make_split, per_frame_ceiling
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.models import read_card
from vidsteal.report.plots import clip_grid, curves_plot, sparsity_plot
from vidsteal.report.render import write_report
from vidsteal.report.study import Cell, Figure, Study, VictimInfo
from vidsteal.train.loop import Callback, OptimConfig
from vidsteal.train.supervised import SupervisedConfig

BLACKBOX_ROWS = {"embeddings": "black-box distil (class embeddings, query-only)", "dfme": "black-box DFME baseline",
                 "noise": "black-box random-noise baseline"}
GREYBOX_ROWS = {"kd": "grey-box KD (irrelevant clips)", "finetune": "fine-tune 5% (dense)",
                "ticket": "fine-tune 5% (winning ticket)", "reinit": "same sparsity, random re-init (control)",
                "scratch": "5% labels only, no queries (floor)"}


class StudyPair(BaseConfig):
    victim: str = Field(description="victim architecture, trained on the embedded benchmark")
    student: str = Field(description="student architecture")
    student_kwargs: dict[str, Any] = Field(default_factory=dict, description="student builder arguments")


RECIPE = Path(__file__).with_name("demo.yaml")  # the demo recipe (configs/demo.yaml links to it)


@functools.cache
def _recipe() -> dict[str, Any]:
    return yaml.safe_load(RECIPE.read_text())


def _demo(key: str, kind: Any, description: str | None = None, **constraints: Any) -> Any:
    """A field whose default is ``key`` of the demo recipe: the recipe is written once, in ``demo.yaml``."""
    adapter = TypeAdapter(kind)
    return Field(default_factory=lambda: adapter.validate_python(_recipe()[key]), description=description,
                 **constraints)


class StudyConfig(BaseConfig):
    """What ``vidsteal demo`` runs: every default is read from ``demo.yaml`` beside this file (<= 15 min on 2 CPU
    cores); ``quick()`` is the same path at toy sizes."""

    pairs: tuple[StudyPair, ...] = _demo("pairs", tuple[StudyPair, ...], "(victim, student) architecture pairs")
    victim: SupervisedConfig = _demo("victim", SupervisedConfig, "how every victim is trained; arch is set per pair")
    seeds: tuple[int, ...] = _demo("seeds", tuple[int, ...], "every attack runs once per seed")
    blackbox_methods: tuple[str, ...] = _demo("blackbox_methods", tuple[str, ...], "registered black-box attacks")
    blackbox_budget: int = _demo("blackbox_budget", int, "victim queries per black-box method and seed", ge=1)
    blackbox_attack: dict[str, Any] = _demo("blackbox_attack", dict[str, Any], "overrides for every black-box method")
    ceiling: bool = _demo("ceiling", bool, "also distil the student, same budget and schedule, on fresh clips of the "
                                           "victim's own distribution: what a data-free method could reach")
    greybox: GreyboxConfig = _demo("greybox", GreyboxConfig, "the grey-box attack, run once per seed")
    test_size: int = _demo("test_size", int, "held-out clips every student and victim is measured on", ge=1)

    @classmethod
    def quick(cls) -> "StudyConfig":
        bench = BenchmarkConfig(shapes=("square", "triangle"), motions=("right", "left", "cw"), frames=4, size=16)
        victim = SupervisedConfig(benchmark=bench, train_size=200, test_size=100,
                                  optim=OptimConfig(epochs=2, batch_size=32))
        tiny = OptimConfig(epochs=1, batch_size=32)
        greybox = GreyboxConfig.model_validate({
            "budget": 150, "data": {"benchmark": bench.to_dict(), "aux_size": 100, "labeled_pool": 200,
                                    "labeled_fraction": 0.1},
            "kd": {"optim": tiny.to_dict()}, "finetune": {"optim": tiny.to_dict()},
            "scratch": tiny.to_dict(), "lottery": {"target_sparsity": 0.3},
            "stages": ["kd", "finetune", "lottery", "scratch"]})
        return cls(pairs=(StudyPair(victim="test_c3d", student="test_frame_cnn"),), victim=victim,
                   blackbox_budget=200, greybox=greybox, test_size=100,
                   )


def demo_victim(arch: str) -> SupervisedConfig:
    """The recipe ``vidsteal demo`` trains ``arch`` with, so benchmarks share its cached victims."""
    return StudyConfig().victim.model_copy(update={"arch": arch})


def _cell(values: list[dict[str, Any]], queries: int | None) -> Cell:
    top1 = [v["top1"] for v in values if v.get("top1") is not None]
    agree = [v["agreement"] for v in values if v.get("agreement") is not None]
    return Cell(top1=statistics.fmean(top1), agreement=statistics.fmean(agree) if agree else None, queries=queries,
                top1_std=statistics.stdev(top1) if len(top1) > 1 else None, seeds=len(top1))


def _shared(attack: dict[str, Any]) -> dict[str, Any]:
    """The part of the black-box overrides every method understands (schedule, clip shape, checkpoints)."""
    return {k: v for k, v in attack.items() if k in ("distill", "frames", "size", "chunk")}


def _blackbox_seeds(cfg: StudyConfig, pair: StudyPair, victim_path: Path, method: str, attack: dict[str, Any],
                    tag: str, run_dir: Path, progress: Progress | None) -> list[dict[str, Any]]:
    """One black-box run per seed of ``cfg`` at the study's budget, in ``blackbox/<victim>_<tag>_seed<s>``."""
    outs = []
    for seed in cfg.seeds:
        job = BlackboxJob(victim=str(victim_path), student=pair.student, student_kwargs=pair.student_kwargs,
                          method=method, attack={**attack, "budget": cfg.blackbox_budget, "seed": seed},
                          test_size=cfg.test_size)
        outs.append(run_blackbox(job, run_dir / "blackbox" / f"{pair.victim}_{tag}_seed{seed}", progress))
    return outs


def _real_clips(cfg: StudyConfig, per_figure: int = 12) -> bytes:
    test = make_split(cfg.victim.benchmark, "test", min(cfg.test_size, 4 * per_figure), cfg.victim.seed)
    first = {int(label): i for i, label in reversed(list(enumerate(test.labels.tolist())))}
    return clip_grid([(test.classes[c], test.clips[i]) for c, i in sorted(first.items())[:per_figure]])


def run_study(cfg: StudyConfig, run_dir: str | Path, progress: Progress | None = None,
              victim_callbacks: Callable[[str, int], Callback] | None = None, command: str = "") -> Study:
    """Run (or resume) every stage and write ``report.md`` / ``report.html`` into ``run_dir``."""
    start = time.perf_counter()
    run_dir = runs.open_run(run_dir, cfg, what="study")
    study = Study(title="vidsteal: stealing embedded video victims", command=command, seeds=list(cfg.seeds),
                  config=cfg.to_dict())
    rows: dict[str, dict[str, list]] = {}
    figures: dict[str, bytes] = {}
    for pair in cfg.pairs:
        vcfg = cfg.victim.model_copy(update={"arch": pair.victim})
        cbs = (victim_callbacks(pair.victim, vcfg.optim.epochs),) if victim_callbacks else ()
        victim_path = embedded_victim(pair.victim, run_dir.parent, vcfg, callbacks=cbs)
        curves: dict[str, list[dict[str, float]]] = {}
        victim_top1 = None
        for method in cfg.blackbox_methods:
            outs = _blackbox_seeds(cfg, pair, victim_path, method, cfg.blackbox_attack, method, run_dir, progress)
            for out in outs:
                m = out["metrics"]
                victim_top1 = m.get("victim_top1", victim_top1)
                rows.setdefault(BLACKBOX_ROWS.get(method, method), {}).setdefault(pair.victim, []).append(
                    (m, out["queries"]))
            curves[method] = outs[0]["curve"]
        ceiling = None
        if cfg.ceiling:
            outs = _blackbox_seeds(cfg, pair, victim_path, "reference", _shared(cfg.blackbox_attack), "ceiling",
                                   run_dir, progress)
            curves["ceiling (victim's distribution)"] = outs[0]["curve"]
            ceiling = statistics.fmean(out["metrics"]["top1"] for out in outs)
        samples = run_dir / "blackbox" / f"{pair.victim}_{cfg.blackbox_methods[0]}_seed{cfg.seeds[0]}" / "samples"
        if (samples / "all.png").exists():
            name = f"synthetic_{pair.victim}.png"
            figures[name] = (samples / "all.png").read_bytes()
            study.figures.append(Figure(title=f"Synthetic clips, {pair.victim} ({cfg.blackbox_methods[0]})",
                                        file=name, caption="Per victim class, the paid clip the victim scored "
                                        "highest for it (frames left to right); compare with the real clips."))
        sparsity: dict[str, list[dict[str, float]]] = {}
        for seed in cfg.seeds:
            gcfg = GreyboxRun(victim=str(victim_path), student=pair.student, student_kwargs=pair.student_kwargs,
                              test_size=cfg.test_size,
                              attack=cfg.greybox.model_copy(update={"seed": seed}))
            result = run_greybox(gcfg, run_dir / "greybox", progress=progress)
            for key, label in GREYBOX_ROWS.items():
                if isinstance(result.metrics.get(key), dict):
                    queries = 0 if key == "scratch" else result.queries
                    rows.setdefault(label, {}).setdefault(pair.victim, []).append((result.metrics[key], queries))
            victim_top1 = result.metrics.get("victim_top1", victim_top1)
            if seed == cfg.seeds[0]:
                for row in result.curve:
                    if "sparsity" in row and row.get("top1") is not None:
                        sparsity.setdefault(str(row.get("kind", "ticket")), []).append(row)
        card = read_card(victim_path)
        if pair.victim == cfg.pairs[0].victim:
            study.notes.append(f"Chance is {100 / card.num_classes:.1f}% ({card.num_classes} classes); every number is "
                               f"measured on {cfg.test_size} held-out clips the students never saw.")
        if pair.student.startswith("frame_") and card.dataset is not None:
            ceiling_top1 = per_frame_ceiling(BenchmarkConfig.model_validate(card.dataset))
            study.notes.append(f"{pair.student} classifies frames and averages them: it cannot see motion, so it "
                               f"can only guess among classes that share a look, and even a perfect per-frame "
                               f"student is near {100 * ceiling_top1:.0f}% top-1 on this benchmark; compare its "
                               "cells with the ceiling row, not with the victim.")
        study.victims[pair.victim] = VictimInfo(arch=pair.victim, student=pair.student, top1=victim_top1 or 0.0,
                                                ceiling_top1=ceiling)
        name = f"curves_{pair.victim}.png"
        figures[name] = curves_plot(curves, f"{pair.victim} → {pair.student}: black box", victim_top1,
                                    chance=1 / card.num_classes)
        study.figures.append(Figure(title=f"Accuracy vs queries, {pair.victim}", file=name,
                                    caption="Held-out top-1 of the student while the attack pays queries."))
        if sparsity:
            name = f"sparsity_{pair.victim}.png"
            figures[name] = sparsity_plot(sparsity, f"{pair.victim} → {pair.student}: lottery ticket")
            study.figures.append(Figure(title=f"Sparsity vs accuracy, {pair.victim}", file=name,
                                        caption="IMP levels (winning ticket) against the random re-init control."))
    figures["real_clips.png"] = _real_clips(cfg)
    study.figures.append(Figure(title="Real clips (held-out split)", file="real_clips.png",
                                caption="One test clip per class of the embedded benchmark, frames left to right."))
    for label, per_victim in rows.items():
        study.rows[label] = {v: _cell([m for m, _ in vals], max(q for _, q in vals)) for v, vals in per_victim.items()}
    study.wall_seconds = time.perf_counter() - start
    study.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    write_report(study, run_dir, figures)
    return study
