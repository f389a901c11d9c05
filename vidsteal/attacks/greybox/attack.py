"""The grey-box attack: auxiliary-set KD, fine-tuning on a labeled fraction, lottery-ticket search.

Threat model: query access to the victim (any output mode; no gradients), unlabeled clips from an irrelevant
domain, and k% labeled clips of the victim's domain. Query cost: one per auxiliary clip, plus one per labeled
clip when ``finetune.victim_answers`` is on; every other step is free. Reference numbers (Kinetics scale, Video
Swin-T / MoViNet victims): KD 8.3% / 13.8%, dense fine-tune 12.6% / 22.3%, winning ticket 17.3% / 33.5% top-1.

Stages name what to produce; a stage first runs (or reads back) the ones it builds on: ``kd`` <- ``finetune`` <-
``lottery``. ``scratch`` (the labeled-only floor: the student trained from random weights on the labeled fraction,
no victim queries) stands alone. Run folder::

    queries/ (the ledger, owned by the caller's LoggedOracle)
    kd/  finetune/  lottery/level_<L>/ (+ reinit/, random_mask/, dense_seeds/)  scratch/     one resumable stage each
    (the reported ticket is the IMP level with the best validation top-1 when the context has a val_set, else the
    final level; its controls are trained at that level)
    sparsity_accuracy.csv
    (config.yaml and metrics.json: written by the caller, vidsteal.pipeline.greybox, like every run folder)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from pydantic import Field
from torch import nn
from torch.utils.data import Dataset, Subset

from vidsteal import runs
from vidsteal.attacks.base import Attack, AttackConfig, AttackContext, AttackResult
from vidsteal.attacks.greybox.aux_kd import aux_kd
from vidsteal.attacks.greybox.data import CutMixAux, GreyboxData, GreyboxDatasets, load_greybox_data
from vidsteal.attacks.greybox.finetune import FinetuneConfig, finetune, labeled_training_set, make_trainer
from vidsteal.attacks.greybox.lottery import VAL_KEY, LotteryConfig, run_imp, seeded_init, select_dense, select_level
from vidsteal.attacks.greybox.stage import STUDENT, TrainFn
from vidsteal.attacks.registry import register_attack
from vidsteal.distill.student import DistillConfig, measure
from vidsteal.models.registry import create_model, model_card
from vidsteal.pruning.apply import model_sparsity
from vidsteal.train.loop import Callback, EpochProgress, OptimConfig
from vidsteal.victims.base import Oracle

Stage = Literal["kd", "finetune", "lottery", "scratch"]
STAGES: tuple[Stage, ...] = ("kd", "finetune", "lottery", "scratch")
_NEEDS = {"kd": (), "finetune": ("kd",), "lottery": ("kd", "finetune"), "scratch": ()}
CURVE_COLUMNS = ("kind", "level", "sparsity", "model_sparsity", "top1", "top5", "agreement", "path")


class GreyboxConfig(AttackConfig):
    """Grey-box extraction; ``budget`` caps the victim queries of all stages together."""

    stages: tuple[Stage, ...] = Field(("kd", "finetune", "lottery"), description="kd, finetune, lottery, scratch")
    data: GreyboxData = Field(default_factory=GreyboxData)
    kd: DistillConfig = Field(  # T = 1 and a higher peak lr: at a few hundred clips the cosine schedule at 3e-3 and
        # T = 2 distilled 0.05 worse than plain soft-label KD (tests/greybox/test_kd_reference.py)
        default_factory=lambda: DistillConfig(temperature=1.0, optim=OptimConfig(epochs=10, batch_size=64, lr=6e-3)),
        description="distillation on the auxiliary set's answers")
    kd_calibrate: bool = Field(True, description="re-estimate the KD student's batch-norm statistics on the labeled "
                                                 "clips' pixels (no labels, no queries): the aux clips are off-domain")
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig,
                                     description="recipe on the labeled fraction (dense fine-tune and every IMP level)")
    lottery: LotteryConfig = Field(default_factory=LotteryConfig)
    scratch: OptimConfig = Field(default_factory=lambda: OptimConfig(epochs=40, batch_size=32, lr=3e-3),
                                 description="labeled-only floor: training from random weights, no queries")


def resolve_stages(stages: Sequence[str]) -> list[str]:
    """The requested stages plus the ones they build on, in pipeline order."""
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}; choose from {STAGES}")
    wanted = set(stages) | {dep for s in stages for dep in _NEEDS[s]}
    return [s for s in STAGES if s in wanted]


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k not in ("history", "layer_sparsity", "path")}


@register_attack
class GreyboxAttack(Attack):
    """``GreyboxAttack(config, data=None).run(oracle, student, context)``; ``data`` defaults to ``config.data``."""

    name = "greybox"
    config_class = GreyboxConfig

    def __init__(self, config: GreyboxConfig, data: GreyboxDatasets | None = None) -> None:
        super().__init__(config)
        self.data = data

    def run(self, oracle: Oracle, student: nn.Module, context: AttackContext) -> AttackResult:
        cfg: GreyboxConfig = self.config  # type: ignore[assignment]
        run_dir = Path(context.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        stages = resolve_stages(cfg.stages)
        data = self.data or load_greybox_data(cfg.data, cfg.seed)
        card = model_card(student)
        self._fresh = lambda: create_model(card.arch, card.num_classes, **card.kwargs)
        self._oracle, self._context, self._dir = oracle, context, run_dir
        answer_labeled = cfg.finetune.victim_answers and "finetune" in stages
        metrics: dict[str, Any] = {}
        rows: list[dict[str, Any]] = []
        student_path = None
        if "kd" in stages:
            metrics["kd"] = self._kd(student, data, len(data.labeled) if answer_labeled else 0)
            student_path = run_dir / "kd" / STUDENT
        if "finetune" in stages:
            train_set = labeled_training_set(data.labeled, cfg.finetune, oracle, self._reporter("labeled queries"))
            ft = finetune(student, train_set, cfg.finetune, run_dir / "finetune", measure=self._measure, seed=cfg.seed,
                          callbacks=[EpochProgress(context.report, "finetune", cfg.finetune.optim.epochs)],
                          snapshot_epochs=sorted({0, cfg.lottery.rewind_epoch}))
            metrics["finetune"] = _summary(ft)
            student_path = run_dir / "finetune" / STUDENT
        if "lottery" in stages:
            rows = self._lottery(student, train_set)
            reported = select_level(rows)  # on the validation split when the context has one, else the final level
            for row in rows:
                if row["level"] == reported:
                    metrics["ticket" if row["kind"] == "ticket" else row["kind"]] = _summary(row)
            best_dense = select_dense(rows)  # the dense_seeds control: dense given the ticket's pick on val
            if best_dense is not None:
                metrics["dense_best"] = _summary(best_dense)
            student_path = Path(next(r["path"] for r in rows if r["kind"] == "ticket" and r["level"] == reported))
        if "scratch" in stages:
            floor = seeded_init(self._fresh, cfg.seed * 1009 + 999)
            scratch_cfg = FinetuneConfig(optim=cfg.scratch, label_smoothing=cfg.finetune.label_smoothing)
            sc = finetune(floor, data.labeled, scratch_cfg, run_dir / "scratch", measure=self._measure, seed=cfg.seed,
                          callbacks=[EpochProgress(context.report, "scratch", cfg.scratch.epochs)], snapshot_epochs=())
            metrics["scratch"] = _summary(sc)
        queries = int(getattr(oracle, "paid", oracle.queries))  # a LoggedOracle counts across resumes
        metrics["queries"] = {"total": queries, "aux": metrics.get("kd", {}).get("answered", 0),
                              "labeled": len(data.labeled) if answer_labeled else 0}
        victim = [m["victim_top1"] for m in metrics.values() if isinstance(m, dict) and "victim_top1" in m]
        if victim:
            metrics["victim_top1"] = victim[0]
        return AttackResult(metrics, queries, curve=rows, student_path=student_path)

    # -- stages ------------------------------------------------------------------------------------------
    def _kd(self, student: nn.Module, data: GreyboxDatasets, reserve: int) -> dict[str, Any]:
        """Aux-set KD on as many auxiliary clips as the budget allows after ``reserve`` labeled queries."""
        cfg: GreyboxConfig = self.config  # type: ignore[assignment]
        aux = CutMixAux(data.aux, cfg.data.aux_cutmix, cfg.seed) if cfg.data.aux_cutmix > 0 else data.aux
        n_aux = min(len(aux), cfg.budget - reserve)  # type: ignore[arg-type]
        if n_aux < 1:
            raise ValueError(f"budget {cfg.budget} leaves no query for the auxiliary set after {reserve} labeled clips")
        aux = aux if n_aux == len(aux) else Subset(aux, range(n_aux))  # type: ignore[arg-type]
        self._context.report("kd queries", 0, n_aux)
        kd = aux_kd(self._oracle, student, aux, cfg.kd, self._dir / "kd", measure=self._measure, seed=cfg.seed,
                    callbacks=[EpochProgress(self._context.report, "kd", cfg.kd.optim.epochs)],
                    on_query=self._reporter("kd queries"), calibrate=data.labeled if cfg.kd_calibrate else None)
        self._context.report("kd queries", kd["answered"], n_aux)
        return _summary(kd)

    def _lottery(self, student: nn.Module, train_set: Dataset) -> list[dict[str, Any]]:
        """IMP from the KD weights, with the fine-tune stage as level 0; writes the sparsity-accuracy CSV."""
        cfg: GreyboxConfig = self.config  # type: ignore[assignment]
        root = self._dir / "lottery"

        def with_progress(seed: int) -> TrainFn:
            train = make_trainer(train_set, cfg.finetune, seed)

            def train_with_progress(model: nn.Module, ckpt_dir: Path, callbacks: Sequence[Callback]) -> list:
                label = f"lottery {ckpt_dir.parent.relative_to(root)}"  # e.g. "lottery reinit/level_07"
                epochs = EpochProgress(self._context.report, label, cfg.finetune.optim.epochs)
                return train(model, ckpt_dir, [*callbacks, epochs])

            return train_with_progress

        rows = run_imp(student, with_progress(cfg.seed), self._measure, cfg.lottery, root,
                       dense_dir=self._dir / "finetune", fresh_model=self._fresh, seed=cfg.seed,
                       on_level=self._reporter("lottery levels"), reseed=with_progress)
        runs.write_csv(rows, self._dir / "sparsity_accuracy.csv", CURVE_COLUMNS)  # one row per trained network
        return rows

    def _measure(self, model: nn.Module) -> dict[str, Any]:
        """Test metrics (auditor-side: never used for training or selection), validation top-1 (selection only) and
        the exact-zero fraction."""
        ctx = self._context
        held_out = measure(model, ctx.test_set, ctx.victim_logits) if ctx.test_set is not None else {}
        if ctx.val_set is not None:  # selection only (the reported IMP level): top-1 on the validation split
            held_out[VAL_KEY] = measure(model, ctx.val_set, None)["top1"]
        return {**held_out, "model_sparsity": model_sparsity(model)}

    def _reporter(self, label: str) -> Callable[[int, int], None]:
        return lambda done, total: self._context.report(label, done, total)
