"""The whole reference study on the embedded benchmark: victims, black-box and grey-box extraction, one report.

``run_study(cfg, run_dir)`` is the library call behind ``vidsteal demo``. Every stage is its own resumable run
folder (victims under the runs root, attacks under ``run_dir``), so a killed demo continues where it stopped and
re-running it only re-renders the report.
"""

from __future__ import annotations

import functools
import json
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
from vidsteal.attacks.blackbox import with_chosen_temperature
from vidsteal.config import BaseConfig, C, load_config
from vidsteal.pipeline.blackbox import BlackboxJob, run_blackbox
from vidsteal.pipeline.greybox import GreyboxRun, run_greybox
from vidsteal.pipeline.victims import embedded_victim
from vidsteal.pipeline.workers import Task, run_tasks
from vidsteal.data.embedded import make_split, per_frame_ceiling
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.models import read_card
from vidsteal.report.plots import clip_grid, curves_plot, sparsity_plot
from vidsteal.report.render import write_report
from vidsteal.report.study import Cell, Figure, Spent, Study, VictimInfo
from vidsteal.train.loop import Callback, EpochProgress, OptimConfig
from vidsteal.train.supervised import SupervisedConfig

BLACKBOX_ROWS = {"embeddings": "black-box distil (class embeddings, query-only)", "dfme": "black-box DFME baseline",
                 "noise": "black-box random-noise baseline", "prior": "black-box distil (prior clips, no search)"}
GREYBOX_ROWS = {"kd": "grey-box KD (irrelevant clips)", "finetune": "fine-tune 5% (dense)",
                "ticket": "fine-tune 5% (winning ticket)", "reinit": "same sparsity, random re-init (control)",
                "scratch": "5% labels only, no queries (floor)"}


class StudyPair(BaseConfig):
    victim: str = Field(description="victim architecture, trained on the embedded benchmark")
    student: str = Field(description="student architecture")
    student_kwargs: dict[str, Any] = Field(default_factory=dict, description="student builder arguments")
    budget: int | None = Field(None, ge=1, description="black-box queries per method and seed for this pair "
                               "(default: the study's blackbox_budget)")
    greybox: bool = Field(True, description="also run the grey-box attack on this pair")
    greybox_overrides: dict[str, Any] = Field(default_factory=dict, description="dotted keys of the study's grey-box "
                                              "config to change for this pair, e.g. {finetune.optim.lr: 1.0e-4}")
    attack: dict[str, Any] = Field(default_factory=dict, description="changes to blackbox_attack for this pair, "
                                   "merged one level deep (e.g. {distill: {train_frames: null}} for a 3D student)")

    @property
    def key(self) -> str:
        """Names the pair's column and run folders: one victim may be attacked with several students."""
        return f"{self.victim}-{self.student}"


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
    """What ``vidsteal demo`` runs: every default is read from ``demo.yaml`` beside this file (~38 min on 2 CPU
    cores); ``quick()`` is the same path at toy sizes."""

    pairs: tuple[StudyPair, ...] = _demo("pairs", tuple[StudyPair, ...], "(victim, student) architecture pairs")
    victim: SupervisedConfig = _demo("victim", SupervisedConfig, "how every victim is trained; arch is set per pair")
    victim_overrides: dict[str, dict[str, Any]] = _demo("victim_overrides", dict[str, dict[str, Any]],
                                                        "per victim architecture, dotted keys of that recipe to "
                                                        "change, e.g. {swin3d_small: {optim.lr: 0.001}}")
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


def _changed(base: C, changes: dict[str, Any]) -> C:
    """``base`` with dotted-key ``changes`` ({"optim.lr": 1e-3}) applied and validated, as the CLI's --set does."""
    items = [f"{key}={json.dumps(value)}" for key, value in changes.items()]
    return load_config(type(base), None, items, base=base) if items else base


def demo_victim(arch: str, cfg: StudyConfig | None = None) -> SupervisedConfig:
    """The recipe ``vidsteal demo`` (or ``cfg``) trains ``arch`` with, so benchmarks share its cached victims."""
    cfg = cfg or StudyConfig()
    return _changed(cfg.victim, {**cfg.victim_overrides.get(arch, {}), "arch": arch})


def _cell(values: list[dict[str, Any]], queries: int | None) -> Cell:
    top1 = [v["top1"] for v in values if v.get("top1") is not None]
    agree = [v["agreement"] for v in values if v.get("agreement") is not None]
    return Cell(top1=statistics.fmean(top1), agreement=statistics.fmean(agree) if agree else None, queries=queries,
                top1_std=statistics.stdev(top1) if len(top1) > 1 else None, seeds=len(top1))


def pair_attack(cfg: StudyConfig, pair: StudyPair) -> dict[str, Any]:
    """The black-box overrides for ``pair``: the study's, with the pair's own merged one level deep."""
    out = dict(cfg.blackbox_attack)
    for key, value in pair.attack.items():
        out[key] = {**out.get(key, {}), **value} if isinstance(value, dict) else value
    return out


def _shared(attack: dict[str, Any]) -> dict[str, Any]:
    """The part of the black-box overrides every method understands (schedule, clip shape, checkpoints)."""
    return {k: v for k, v in attack.items() if k in ("distill", "frames", "size", "chunk")}


def _blackbox_jobs(cfg: StudyConfig, pair: StudyPair, victim_path: Path, run_dir: Path
                   ) -> dict[str, list[tuple[BlackboxJob, Path]]]:
    """Per row tag (each method, then ``ceiling``), one black-box job per seed of ``cfg`` at the pair's budget and
    its folder ``blackbox/<pair>_<tag>_seed<s>``."""
    attack, budget = pair_attack(cfg, pair), pair.budget or cfg.blackbox_budget
    # the data-free rows' students take the library's val-chosen KD temperature (the study's victims answer
    # probabilities) unless the recipe sets one
    plan = [(method, method, with_chosen_temperature(attack, method, budget, "probs"))
            for method in cfg.blackbox_methods]
    if cfg.ceiling:
        plan.append(("ceiling", "reference", _shared(attack)))
    return {tag: [(BlackboxJob(victim=str(victim_path), student=pair.student, student_kwargs=pair.student_kwargs,
                               method=method, test_size=cfg.test_size,
                               attack={**kwargs, "budget": budget, "seed": seed}),
                   run_dir / "blackbox" / f"{pair.key}_{tag}_seed{seed}") for seed in cfg.seeds]
            for tag, method, kwargs in plan}


def pair_greybox(cfg: StudyConfig, pair: StudyPair) -> GreyboxConfig:
    """The study's grey-box config with ``pair``'s own dotted-key changes."""
    return _changed(cfg.greybox, pair.greybox_overrides)


def _greybox_jobs(cfg: StudyConfig, pair: StudyPair, victim_path: Path) -> list[GreyboxRun]:
    """One grey-box run per seed of ``cfg`` (none when the pair has no grey box)."""
    attack = pair_greybox(cfg, pair)
    return [GreyboxRun(victim=str(victim_path), student=pair.student, student_kwargs=pair.student_kwargs,
                       test_size=cfg.test_size, attack=attack.model_copy(update={"seed": seed}))
            for seed in cfg.seeds] if pair.greybox else []


def _train_victim(arch: str, root: Path, vcfg: SupervisedConfig, progress: Progress | None = None) -> Path:
    callbacks = (EpochProgress(progress, "victim epochs", vcfg.optim.epochs),) if progress else ()
    return embedded_victim(arch, root, vcfg, callbacks=callbacks)


def _prerun(cfg: StudyConfig, run_dir: Path, workers: int, progress: Progress | None) -> None:
    """Every stage of the study in ``workers`` processes (victims first, then every attack run, longest first);
    the study's sequential pass then finds them finished."""
    archs = list(dict.fromkeys(pair.victim for pair in cfg.pairs))
    paths = dict(zip(archs, run_tasks([(f"victim {arch}", _train_victim, (arch, run_dir.parent,
                                                                           demo_victim(arch, cfg)))
                                       for arch in archs], workers, progress)))
    greybox: list[Task] = []
    blackbox: list[Task] = []
    for pair in cfg.pairs:
        greybox += [(f"{pair.key} grey box seed {g.attack.seed}", run_greybox, (g, run_dir / "greybox"))
                    for g in _greybox_jobs(cfg, pair, paths[pair.victim])]
        for tag, jobs in _blackbox_jobs(cfg, pair, paths[pair.victim], run_dir).items():
            blackbox += [(f"{pair.key} {tag} seed {job.attack['seed']}", run_blackbox, (job, folder))
                         for job, folder in jobs]
    run_tasks(greybox + blackbox, workers, progress)


SPLIT_NOTE = ("Settings (the victims' recipe, budgets and attack knobs in vidsteal/pipeline/demo.yaml) were chosen on "
              "the benchmark's val split; the test split is used only for the numbers reported here.")


def spent_record(pair: str, method: str, seed: int, budget: int, out: dict[str, Any]) -> Spent:
    """What one finished run (its ``metrics.json``) paid; a count that disagrees with its query log, or a run that
    paid more than its budget, is an error: the report must never show queries that were not logged."""
    m = out["metrics"]
    paid = m["paid"] if "paid" in m else out["queries"]
    logged = (m.get("ledger") or {}).get("paid")
    if logged != paid or paid > budget:
        raise RuntimeError(f"{pair} {method} seed {seed}: paid {paid} queries, the query log holds {logged}, "
                           f"budget {budget}")
    search = m.get("search") or {}
    if not search.get("iterations", 1):  # no search ran (search.max_iters=0, or the prior covered every class)
        search = {}
    return Spent(pair=pair, method=method, seed=seed, budget=budget, paid=paid,
                 classes=search["classes_reached"] + len(search["never_reached"]) if search else None,
                 classes_reached=search.get("classes_reached"), threshold=search.get("threshold"),
                 search_queries=search.get("search_queries"))


def _real_clips(cfg: StudyConfig, per_figure: int = 12) -> bytes:
    test = make_split(cfg.victim.benchmark, "test", min(cfg.test_size, 4 * per_figure), cfg.victim.seed)
    first = {int(label): i for i, label in reversed(list(enumerate(test.labels.tolist())))}
    return clip_grid([(test.classes[c], test.clips[i]) for c, i in sorted(first.items())[:per_figure]])


def run_study(cfg: StudyConfig, run_dir: str | Path, progress: Progress | None = None,
              victim_callbacks: Callable[[str, int], Callback] | None = None, command: str = "",
              workers: int = 1) -> Study:
    """Run (or resume) every stage and write ``report.md`` / ``report.html`` into ``run_dir``.

    Args:
        workers: processes that run independent stages side by side (see :mod:`vidsteal.pipeline.workers`),
            sharing this process's torch threads; 1 runs everything here, in order. Results do not depend on it
            beyond floating-point summation order.
    """
    start = time.perf_counter()
    run_dir = runs.open_run(run_dir, cfg, what="study")
    if workers > 1:
        _prerun(cfg, run_dir, workers, progress)
    study = Study(title="vidsteal: stealing embedded video victims", command=command, seeds=list(cfg.seeds),
                  config=cfg.to_dict())
    rows: dict[str, dict[str, list]] = {}
    figures: dict[str, bytes] = {}
    for pair in cfg.pairs:
        vcfg = demo_victim(pair.victim, cfg)
        cbs = (victim_callbacks(pair.victim, vcfg.optim.epochs),) if victim_callbacks else ()
        victim_path = embedded_victim(pair.victim, run_dir.parent, vcfg, callbacks=cbs)
        _study_pair(cfg, pair, victim_path, run_dir, progress, study, rows, figures)
    study.notes.append(SPLIT_NOTE)
    figures["real_clips.png"] = _real_clips(cfg)
    study.figures.append(Figure(title="Real clips (held-out split)", file="real_clips.png",
                                caption="One test clip per class of the embedded benchmark, frames left to right."))
    for label, per_pair in rows.items():
        study.rows[label] = {k: _cell([m for m, _ in vals], max(q for _, q in vals)) for k, vals in per_pair.items()}
    study.wall_seconds = time.perf_counter() - start
    study.peak_rss_mb = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF,
                                                                           resource.RUSAGE_CHILDREN)) / 1024
    if workers > 1:
        study.notes.append(f"Stages ran side by side in {workers} worker processes; the reported peak RSS is the "
                           "largest single process's, not their sum.")
    write_report(study, run_dir, figures)
    return study


def _study_pair(cfg: StudyConfig, pair: StudyPair, victim_path: Path, run_dir: Path, progress: Progress | None,
                study: Study, rows: dict[str, dict[str, list]], figures: dict[str, bytes]) -> None:
    """Every attack of the study on one (victim, student) pair: its cells, its account and its figures."""
    key, title = pair.key, f"{pair.victim} → {pair.student}"
    curves: dict[str, list[dict[str, float]]] = {}
    victim_top1 = None
    budget, ceiling = pair.budget or cfg.blackbox_budget, None
    for tag, jobs in _blackbox_jobs(cfg, pair, victim_path, run_dir).items():
        outs = [run_blackbox(job, folder, progress) for job, folder in jobs]
        study.spent += [spent_record(key, tag, seed, budget, out) for seed, out in zip(cfg.seeds, outs)]
        if tag == "ceiling":
            curves["ceiling (victim's distribution)"] = outs[0]["curve"]
            ceiling = statistics.fmean(out["metrics"]["top1"] for out in outs)
            continue
        for out in outs:
            victim_top1 = out["metrics"].get("victim_top1", victim_top1)
            rows.setdefault(BLACKBOX_ROWS.get(tag, tag), {}).setdefault(key, []).append((out["metrics"],
                                                                                        out["queries"]))
        curves[tag] = outs[0]["curve"]
    samples = run_dir / "blackbox" / f"{key}_{cfg.blackbox_methods[0]}_seed{cfg.seeds[0]}" / "samples"
    if (samples / "all.png").exists():
        name = f"synthetic_{key}.png"
        figures[name] = (samples / "all.png").read_bytes()
        study.figures.append(Figure(title=f"Synthetic clips, {title} ({cfg.blackbox_methods[0]})", file=name,
                                    caption="Per victim class, the paid clip the victim scored highest for it "
                                    "(frames left to right); compare with the real clips."))
    sparsity: dict[str, list[dict[str, float]]] = {}
    for gcfg in _greybox_jobs(cfg, pair, victim_path):
        seed = gcfg.attack.seed
        result = run_greybox(gcfg, run_dir / "greybox", progress=progress)
        study.spent.append(spent_record(key, "grey box", seed, gcfg.attack.budget, result.as_dict()))
        for stage, label in GREYBOX_ROWS.items():
            if isinstance(result.metrics.get(stage), dict):
                queries = 0 if stage == "scratch" else result.queries
                rows.setdefault(label, {}).setdefault(key, []).append((result.metrics[stage], queries))
        victim_top1 = result.metrics.get("victim_top1", victim_top1)
        if seed == cfg.seeds[0]:
            for row in result.curve:
                if "sparsity" in row and row.get("top1") is not None:
                    sparsity.setdefault(str(row.get("kind", "ticket")), []).append(row)
    card = read_card(victim_path)
    if pair == cfg.pairs[0]:
        study.notes.append(f"Chance is {100 / card.num_classes:.1f}% ({card.num_classes} classes); every number is "
                           f"measured on {cfg.test_size} held-out clips the students never saw.")
    if pair.student.startswith("frame_") and card.dataset is not None:
        ceiling_top1 = per_frame_ceiling(BenchmarkConfig.model_validate(card.dataset))
        study.notes.append(f"{pair.student} classifies frames and averages them: it cannot see motion, so it can only "
                           f"guess among classes that share a look, and even a perfect per-frame student is near "
                           f"{100 * ceiling_top1:.0f}% top-1 on this benchmark; compare its cells with the ceiling "
                           "row, not with the victim.")
    study.victims[key] = VictimInfo(arch=pair.victim, student=pair.student, top1=victim_top1 or 0.0,
                                    ceiling_top1=ceiling)
    figures[f"curves_{key}.png"] = curves_plot(curves, f"{title}: black box", victim_top1,
                                               chance=1 / card.num_classes)
    study.figures.append(Figure(title=f"Accuracy vs queries, {title}", file=f"curves_{key}.png",
                                caption="Held-out top-1 of the student while the attack pays queries."))
    if sparsity:
        figures[f"sparsity_{key}.png"] = sparsity_plot(sparsity, f"{title}: lottery ticket")
        study.figures.append(Figure(title=f"Sparsity vs accuracy, {title}", file=f"sparsity_{key}.png",
                                    caption="IMP levels (winning ticket) against the random re-init control."))
