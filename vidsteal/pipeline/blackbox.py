"""One black-box extraction run, end to end: victim file + student architecture + attack -> a run folder.

The run folder (see :mod:`vidsteal.runs`) holds ``config.yaml`` (the job), ``attack.yaml`` (the attack's config
with every default resolved), ``queries/`` (the durable query log), ``state/`` (checkpoints),
``student.safetensors``, ``curve.csv`` (accuracy vs queries), ``samples/`` (one PNG strip per victim class) and,
last, ``metrics.json``. Re-running the same job resumes it; a finished job is returned as is. The folder is named
by the job's explicit settings; ``attack.yaml`` makes a changed attack default an error on re-opening instead of an
old result returned as if made with the new default.
The held-out test split and the victim's predictions on it are the auditor's measurement, never training data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import Field

import vidsteal.attacks.blackbox  # noqa: F401  (registers the black-box attacks)
from vidsteal.attacks.base import AttackContext, Progress
from vidsteal.attacks.blackbox.samples import save_strips, strongest_per_class
from vidsteal.attacks.registry import ATTACKS, create_attack
from vidsteal import runs
from vidsteal.config import BaseConfig
from vidsteal.data.embedded import make_split
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.eval.evaluate import predict
from vidsteal.eval.metrics import topk_accuracy
from vidsteal.models import create_model, read_card
from vidsteal.victims import LocalOracle, LoggedOracle, OutputMode, QueryBudget


CURVE_COLUMNS = ("queries", "paid", "top1", "top5", "agreement", "student_steps", "seconds")


class BlackboxJob(BaseConfig):
    """Everything that defines a black-box run; its hash names the run folder."""

    victim: str = Field(description="victim weights (.safetensors written by vidsteal)")
    student: str = Field("frame_cnn", description="registered student architecture")
    student_kwargs: dict[str, Any] = Field(default_factory=dict)
    method: str = Field("embeddings", description="embeddings | dfme | noise | reference (the ceiling)")
    attack: dict[str, Any] = Field(default_factory=dict, description="the method's config (see its config class)")
    output_mode: OutputMode = Field(default_factory=OutputMode, description="what the victim reveals per query")
    test_size: int = Field(1000, ge=1, description="held-out real clips for measurement")
    test_seed: int = Field(0, description="seed of the victim's benchmark splits")


def run_blackbox(job: BlackboxJob, run_dir: str | Path, progress: Progress | None = None) -> dict[str, Any]:
    """Run (or resume, or return the finished) job in ``run_dir``; returns the contents of ``metrics.json``."""
    run_dir = runs.open_run(run_dir, job, what="black-box job")
    card = read_card(job.victim)
    defaults: dict[str, Any] = {"frames": card.frames, "size": card.size}
    if "benchmark" in ATTACKS.get(job.method).config_class.model_fields:  # the reference ceiling
        defaults["benchmark"] = card.dataset
    given = {k: v for k, v in job.attack.items() if v is not None}  # None = "take it from the victim's card"
    attack = create_attack(job.method, {**{k: v for k, v in defaults.items() if v is not None}, **given})
    runs.open_run(run_dir, attack.config, name="attack.yaml", what=f"{job.method} config (resolved)")
    done = runs.finished(run_dir)
    if done is not None:
        return done
    victim = LocalOracle.from_file(job.victim, job.output_mode)
    test_set = victim_logits = None
    if card.dataset is not None:
        test_set = make_split(BenchmarkConfig.model_validate(card.dataset), "test", job.test_size, job.test_seed)
        victim_logits, _ = predict(victim.model, test_set)
    with torch.random.fork_rng():
        torch.manual_seed(attack.config.seed)
        student = create_model(job.student, card.num_classes, **job.student_kwargs)
    budget = QueryBudget(attack.config.budget)
    with LoggedOracle(victim, run_dir / "queries", budget, quantize=attack.quantize) as oracle:
        result = attack.run(oracle, student, AttackContext(run_dir, test_set, victim_logits, progress))
        clips, classes, scores = strongest_per_class(oracle, card.num_classes)
        names = card.categories or [str(c) for c in range(card.num_classes)]
        save_strips(clips, [f"{c:02d}_{names[c]}_p{s:.2f}" for c, s in zip(classes, scores)], run_dir / "samples")
        ledger = {"paid": oracle.paid, "hits": oracle.hits}
    metrics = {"method": job.method, "student": job.student, **result.metrics, "ledger": ledger,
               "victim_top1": None if victim_logits is None else topk_accuracy(victim_logits, test_set.labels, 1),
               "classes_sampled": len(classes), "config": attack.config.to_dict()}
    factors = sorted({k for point in result.curve for k in point if k.endswith("_acc")})  # per-factor, if any
    runs.write_csv(result.curve, run_dir / "curve.csv", [*CURVE_COLUMNS, *factors])
    result.metrics = metrics
    return runs.finish(run_dir, result.as_dict())
