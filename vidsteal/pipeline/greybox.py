"""Grey-box extraction of a victim file, end to end: oracle with budget and log, student, attack, run folder.

``run_greybox(cfg, runs)`` is the library call behind ``vidsteal extract greybox`` and ``benchmarks/greybox.py``.
The run folder is ``runs/greybox_<hash>/seed_<s>/`` (:func:`vidsteal.runs.greybox_folder`), the hash covering
everything but the seed, the stage list and the IMP controls asked for, so asking for more of them later resumes
the same folder (and re-uses its paid queries and finished stages). It holds ``config.yaml`` (this run), the
attack's stage folders, and ``metrics.json``, rewritten (atomically) each time the run is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import Field
from torch.utils.data import Dataset

from vidsteal.attacks.base import AttackContext, AttackResult, Progress
from vidsteal.attacks.greybox import GreyboxAttack, GreyboxConfig, GreyboxData, GreyboxDatasets
from vidsteal import runs
from vidsteal.config import BaseConfig
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.data.sources import EMBEDDED, resolve_aux, resolve_labeled
from vidsteal.models import ModelCard, create_model, read_card
from vidsteal.pipeline.measure import AUDIT_QUERIES, measure_victim, yardstick
from vidsteal.victims import LoggedOracle, OutputMode, QueryBudget
from vidsteal.victims.spec import Victim, resolve_victim


class GreyboxRun(BaseConfig):
    """A grey-box extraction of one victim file into one student architecture."""

    victim: str = Field(description="victim spec: model file, module:factory, http://host:port or oip+http://...")
    card: str | None = Field(None, description="the victim's input-contract card (default: beside the file)")
    student: str = Field("frame_cnn", description="registered student architecture")
    student_kwargs: dict[str, Any] = Field(default_factory=dict, description="student builder arguments")
    output_mode: OutputMode = Field(default_factory=OutputMode, description="what each victim answer reveals")
    test_data: str = Field("embedded", description="held-out labeled clips: 'embedded', a class folder or a CSV")
    test_size: int = Field(2000, ge=1, description="held-out victim-domain clips for measurement (never trained on)")
    attack: GreyboxConfig = Field(default_factory=GreyboxConfig)

    def run_dir(self, root: str | Path) -> Path:
        return runs.greybox_folder(root, self)


def with_victim_benchmark(cfg: GreyboxRun, card: ModelCard | None = None) -> GreyboxRun:
    """``cfg`` with ``attack.data.benchmark`` set to the benchmark the victim was trained on (from its card)."""
    card = card or read_card(cfg.victim)
    if card.dataset is None:
        return cfg
    bench = BenchmarkConfig.model_validate(card.dataset)
    data = cfg.attack.data.model_copy(update={"benchmark": bench})
    return cfg.model_copy(update={"attack": cfg.attack.model_copy(update={"data": data})})


def run_greybox(
    cfg: GreyboxRun,
    root: str | Path = "runs",
    *,
    data: GreyboxDatasets | None = None,
    test_set: Dataset | None = None,
    victim_logits: torch.Tensor | None = None,
    val_set: Dataset | None = None,
    victim: Victim | None = None,
    progress: Progress | None = None,
) -> AttackResult:
    """Run (or resume) the attack; returns its result, also written to ``<run dir>/metrics.json``.

    Args:
        data: pre-built attacker datasets (default: from ``cfg.attack.data``).
        test_set / victim_logits: the auditor's held-out split and the victim's predictions on it (default:
            ``cfg.test_data`` measured here, the embedded test split of the victim's benchmark unless set).
        val_set: labeled clips disjoint from the test split on which the attack chooses the reported IMP level
            (default: none, the final level is reported).
        victim: ``cfg.victim`` already resolved (default: resolved here).
    """
    own = victim is None
    victim = victim or resolve_victim(cfg.victim, card=cfg.card, output_mode=cfg.output_mode)
    run_dir = cfg.run_dir(root)
    if (run_dir / "run.yaml").exists():  # the layout before vidsteal.runs: this run in run.yaml, the attack's in config
        (run_dir / "run.yaml").replace(run_dir / runs.CONFIG)
    runs.open_run(run_dir, cfg, ignore=runs.GREYBOX_FREE, what="grey-box run")
    try:
        if test_set is None and (cfg.test_data != "embedded" or cfg.attack.data.labeled == "embedded"):
            yard = yardstick(victim, cfg.test_data, Path(root) / AUDIT_QUERIES, size=cfg.test_size,
                             seed=cfg.attack.data.pool_seed)
            test_set, victim_logits = yard.test_set, yard.victim_logits
        if test_set is not None and victim_logits is None:
            victim_logits = measure_victim(victim, test_set, Path(root) / AUDIT_QUERIES).victim_logits
        if data is None and (cfg.attack.data.aux, cfg.attack.data.labeled) != (EMBEDDED, EMBEDDED):
            data = user_datasets(cfg.attack.data, victim.card, cfg.attack.seed)
        torch.manual_seed(cfg.attack.seed)
        student = create_model(cfg.student, num_classes=victim.card.num_classes, **cfg.student_kwargs)
        with LoggedOracle(victim.oracle, run_dir / "queries", budget=QueryBudget(cfg.attack.budget)) as oracle:
            attack = GreyboxAttack(cfg.attack, data=data)
            context = AttackContext(run_dir=run_dir, test_set=test_set, victim_logits=victim_logits,
                                    progress=progress, val_set=val_set)
            result = attack.run(oracle, student, context)
            result.metrics["ledger"] = {"paid": oracle.paid}  # across resumes (hits differ on a resume)
    finally:
        if own:
            victim.close()
    runs.finish(run_dir, result.as_dict())
    return result


def user_datasets(data: GreyboxData, card: ModelCard, seed: int) -> GreyboxDatasets:
    """The attacker's own videos (``data.aux`` / ``data.labeled`` as folders or a CSV), decoded for the victim and
    labelled in its class order (see :mod:`vidsteal.data.sources`)."""
    return GreyboxDatasets(resolve_aux(data.aux, card, data.aux_size, seed=seed),
                           resolve_labeled(data.labeled, card, data.labeled_fraction, seed=seed,
                                           pool=data.labeled_pool, pool_seed=data.pool_seed))
