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
from vidsteal.models import create_model
from vidsteal.pipeline.measure import AUDIT_QUERIES, Yardstick, yardstick
from vidsteal.victims import LoggedOracle, OutputMode, QueryBudget
from vidsteal.victims.spec import Victim, resolve_victim


CURVE_COLUMNS = ("queries", "paid", "top1", "top5", "agreement", "student_steps", "seconds")


class BlackboxJob(BaseConfig):
    """Everything that defines a black-box run; its hash names the run folder."""

    victim: str = Field(description="victim spec: model file, module:factory, http://host:port or oip+http://...")
    card: str | None = Field(None, description="the victim's input-contract card (default: beside the file)")
    student: str = Field("frame_cnn", description="registered student architecture")
    student_kwargs: dict[str, Any] = Field(default_factory=dict)
    method: str = Field("embeddings", description="embeddings | dfme | noise | reference (the ceiling)")
    attack: dict[str, Any] = Field(default_factory=dict, description="the method's config (see its config class)")
    output_mode: OutputMode = Field(default_factory=OutputMode, description="what the victim reveals per query")
    test_data: str = Field("embedded", description="held-out labeled clips: 'embedded', a class folder or a CSV")
    test_size: int = Field(1000, ge=1, description="held-out real clips for measurement (at most, for videos)")
    test_seed: int = Field(0, description="seed of the victim's benchmark splits (or of the choice of videos)")


def run_blackbox(job: BlackboxJob, run_dir: str | Path, progress: Progress | None = None, *,
                 victim: Victim | None = None, yard: Yardstick | None = None) -> dict[str, Any]:
    """Run (or resume, or return the finished) job in ``run_dir``; returns the contents of ``metrics.json``.

    Args:
        victim: ``job.victim`` already resolved (the CLI resolves it to pass an API key; an audit shares one).
        yard: the test clips and the victim's predictions on them (default: ``job.test_data``, measured here;
            a remote victim's answers are paid once as audit queries in ``<run_dir>/../audit_queries``).
    """
    run_dir = runs.open_run(run_dir, job, what="black-box job")
    own = victim is None
    victim = victim or resolve_victim(job.victim, card=job.card, output_mode=job.output_mode)
    try:
        return _run(job, run_dir, progress, victim, yard)
    finally:
        if own:
            victim.close()


def _run(job: BlackboxJob, run_dir: Path, progress: Progress | None, victim: Victim,
         yard: Yardstick | None) -> dict[str, Any]:
    card = victim.card
    defaults: dict[str, Any] = {"frames": card.frames, "size": card.size}
    if "benchmark" in ATTACKS.get(job.method).config_class.model_fields:  # the reference ceiling
        defaults["benchmark"] = card.dataset
    given = {k: v for k, v in job.attack.items() if v is not None}  # None = "take it from the victim's card"
    attack = create_attack(job.method, {**{k: v for k, v in defaults.items() if v is not None}, **given})
    runs.open_run(run_dir, attack.config, name="attack.yaml", what=f"{job.method} config (resolved)")
    done = runs.finished(run_dir)
    if done is not None:
        return done
    if yard is None and (job.test_data != "embedded" or card.dataset is not None):
        yard = yardstick(victim, job.test_data, run_dir.parent / AUDIT_QUERIES, size=job.test_size,
                         seed=job.test_seed)
    test_set = None if yard is None else yard.test_set
    victim_logits = None if yard is None else yard.victim_logits
    with torch.random.fork_rng():
        torch.manual_seed(attack.config.seed)
        student = create_model(job.student, card.num_classes, **job.student_kwargs)
    budget = QueryBudget(attack.config.budget)
    with LoggedOracle(victim.oracle, run_dir / "queries", budget) as oracle, torch.random.fork_rng():  # 8-bit clips
        # a run must not depend on what ran before it in the process, nor leak into it: the student seeds its dropout
        # per step (OnlineStudent); this seed fixes any other draw an attack makes from the global RNG
        torch.manual_seed(attack.config.seed + 1)
        result = attack.run(oracle, student, AttackContext(run_dir, test_set, victim_logits, progress))
        clips, classes, scores = strongest_per_class(oracle, card.num_classes)
        names = card.categories or [str(c) for c in range(card.num_classes)]
        save_strips(clips, [f"{c:02d}_{names[c]}_p{s:.2f}" for c, s in zip(classes, scores)], run_dir / "samples")
        ledger = {"paid": oracle.paid, "hits": oracle.hits}
    metrics = {"method": job.method, "student": job.student, **result.metrics, "ledger": ledger,
               "victim_top1": None if yard is None else yard.victim_top1,
               "audit": None if yard is None else yard.summary(),
               "classes_sampled": len(classes), "config": attack.config.to_dict()}
    factors = sorted({k for point in result.curve for k in point if k.endswith("_acc")})  # per-factor, if any
    runs.write_csv(result.curve, run_dir / "curve.csv", [*CURVE_COLUMNS, *factors])
    result.metrics = metrics
    return runs.finish(run_dir, result.as_dict())
