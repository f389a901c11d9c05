"""Grey-box stage 3: the lottery-ticket search by iterative magnitude pruning (IMP) with rewinding.

Frankle & Carbin, "The Lottery Ticket Hypothesis" (ICLR 2019, https://arxiv.org/abs/1803.03635), with late
rewinding from Frankle et al., "Stabilizing the Lottery Ticket Hypothesis" (https://arxiv.org/abs/1903.01611).
Here IMP starts from the stage-1 (KD) student, as for pre-trained networks (Chen et al. 2020), and trains every
level with the fine-tuning recipe on the labeled fraction; it pays no queries of its own.

Levels, as in open_lth's lottery runner::

    level 0   dense training from the start weights W0 (the fine-tune stage; its folder is reused when given)
    level L   prune cfg.pruning.fraction of the survivors of level L-1 by magnitude (a pruning *strategy* from
              vidsteal.pruning), rewind the survivors to W0 (or to the dense run's epoch-r weights: late
              rewinding), retrain with the mask enforced
    controls  the same mask from a fresh random initialisation ("reinit", Frankle & Carbin's control), and/or a
              random mask of equal per-layer sparsity on the rewind weights ("random_mask"), and/or the selection
              control ("dense_seeds"): the reported ticket is the best of ``levels`` networks on validation, so
              dense training gets ``levels - 1`` more runs from the same start weights under other data-order
              seeds and the same pick (:func:`select_dense`); a ticket that only wins by selection does not beat it

Folder layout (every level is an idempotent stage; a killed search resumes from the level, and the epoch, where it
stopped)::

    level_00/  mask.safetensors  (+ the dense run when trained here: start/epoch_<r>/student.safetensors, metrics)
    level_<L>/ mask.safetensors (written before training)  student.safetensors  metrics.json
    reinit/level_<L>/ ...   random_mask/level_<L>/ ...   dense_seeds/seed_<k>/ ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Literal

import torch
from pydantic import Field, field_validator
from torch import nn

from vidsteal.attacks.greybox.stage import STUDENT, MeasureFn, TrainFn, finished, rewind_path, run_stage
from vidsteal.config import BaseConfig
from vidsteal.pruning.apply import MaskedTraining, load_state, model_sparsity
from vidsteal.pruning.magnitude import PruningConfig, expected_sparsity, magnitude_threshold, prune, rounds_for
from vidsteal.pruning.mask import Mask

Control = Literal["reinit", "random_mask", "dense_seeds"]
MASK = "mask.safetensors"
VAL_KEY = "val_top1"


class LotteryConfig(BaseConfig):
    """Iterative magnitude pruning with rewinding, and its controls."""

    pruning: PruningConfig = Field(default_factory=PruningConfig, description="strategy, fraction per level, layers")
    target_sparsity: float = Field(0.8, ge=0, lt=1, description="stop at the first level whose sparsity reaches this")
    rewind_epoch: int = Field(0, ge=0,
                              description="0 rewinds to the start weights; r > 0 to the dense run's epoch-r weights")
    controls: tuple[Control, ...] = Field(("reinit",), description="reinit, random_mask and/or dense_seeds")
    control_levels: Literal["reported", "all"] = Field("reported", description="levels that get the controls: the "
                                                       "reported one (see select_level) or every level")

    @field_validator("control_levels", mode="before")
    @classmethod
    def _final_is_reported(cls, value: str) -> str:
        return "reported" if value == "final" else value  # configs written before levels were selected on val

    @property
    def levels(self) -> int:
        return rounds_for(self.target_sparsity, self.pruning.fraction)


def _level_dir(root: Path, level: int) -> Path:
    return root / f"level_{level:02d}"


def seeded_init(fresh_model: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``fresh_model()`` under a fixed seed, without disturbing the global RNG."""
    with torch.random.fork_rng(devices=[]):  # a fixed init per (seed, level), same after a resume
        torch.manual_seed(seed)
        return fresh_model()


def _row(kind: str, level: int, metrics: dict[str, Any], path: Path) -> dict[str, Any]:
    keep = ("sparsity", "model_sparsity", "top1", "top5", "agreement", VAL_KEY)
    return {"kind": kind, "level": level, **{k: metrics[k] for k in keep if k in metrics}, "path": str(path)}


def select_level(rows: list[dict[str, Any]]) -> int:
    """The IMP level to report: the ticket with the best validation top-1 (``val_top1``, measured on a split that
    is neither trained on nor the test split) when every ticket has one, else the final level. Never the test."""
    tickets = [r for r in rows if r["kind"] == "ticket"]
    if tickets and all(VAL_KEY in r for r in tickets):
        return max(tickets, key=lambda r: (r[VAL_KEY], r["level"]))["level"]
    return max(r["level"] for r in rows)


def select_dense(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The dense run the ``dense_seeds`` control reports: the best validation top-1 among level 0 and its reseeded
    repeats (the same pick the ticket gets among levels); None without repeats or validation scores."""
    dense = [r for r in rows if r["kind"] in ("dense", "dense_seed")]
    if len(dense) < 2 or not all(VAL_KEY in r for r in dense):
        return None
    return max(dense, key=lambda r: r[VAL_KEY])


def run_imp(
    model: nn.Module,
    train: TrainFn,
    measure: MeasureFn,
    cfg: LotteryConfig,
    out_dir: Path,
    *,
    dense_dir: Path | None = None,
    fresh_model: Callable[[], nn.Module] | None = None,
    seed: int = 0,
    on_level: Callable[[int, int], None] | None = None,
    reseed: Callable[[int], TrainFn] | None = None,
) -> list[dict[str, Any]]:
    """Run (or resume) IMP on ``model``, which holds the start weights; it ends holding the final ticket.

    Args:
        train: trains a model in place (same recipe every level); see :mod:`vidsteal.attacks.greybox.stage`.
        measure: held-out metrics of a model.
        dense_dir: a finished dense run of the same recipe from the same start (the fine-tune stage) to use as
            level 0; it must hold the rewind weights. None trains level 0 here.
        fresh_model: builds the architecture with fresh random weights; needed for reinit and random_mask.
        reseed: the same recipe as ``train`` under another seed; needed for dense_seeds.
        on_level: ``(levels done, levels total)`` progress.

    Returns one row per trained network: ``kind`` (dense / ticket / reinit / random_mask / dense_seed), level, sparsity,
    held-out metrics and the weights' path. The controls are trained at every level or only at the reported one
    (:func:`select_level`, chosen after the whole search).
    """
    out_dir = Path(out_dir)
    masked = [kind for kind in cfg.controls if kind != "dense_seeds"]  # controls trained at a level, with its mask
    if masked and fresh_model is None:
        raise ValueError("the IMP controls need fresh_model to build randomly initialised networks")
    if "dense_seeds" in cfg.controls and reseed is None:
        raise ValueError("the dense_seeds control needs reseed to train the dense recipe under other seeds")
    measured = lambda m: {**measure(m), "model_sparsity": model_sparsity(m)}  # noqa: E731  (zeros really there)
    level0 = _level_dir(out_dir, 0)
    dense = Mask.ones(model, cfg.pruning.layers)
    if not (level0 / MASK).exists():
        dense.save(level0 / MASK, level=0)
    if dense_dir is None:
        dense_dir = level0
        run_stage(model, level0, train, measured, snapshot_epochs=sorted({0, cfg.rewind_epoch}),
                  extra={"level": 0, "sparsity": 0.0})
    dense_metrics = finished(dense_dir)
    if dense_metrics is None:
        raise FileNotFoundError(f"the dense run {dense_dir} is not finished (no metrics.json); run it first")
    rewind = rewind_path(dense_dir, cfg.rewind_epoch)
    if not rewind.exists():
        raise FileNotFoundError(f"rewind weights {rewind} are missing: the dense run must keep epoch "
                                f"{cfg.rewind_epoch} (snapshot_epochs) to rewind to it")
    rows = [_row("dense", 0, {**dense_metrics, "sparsity": 0.0}, dense_dir / STUDENT)]
    previous, mask, infos = dense_dir / STUDENT, dense, {}
    for level in range(1, cfg.levels + 1):
        ldir = _level_dir(out_dir, level)
        if (ldir / MASK).exists():  # pruned before a kill: reuse, the weights it came from may be gone
            mask_next = Mask.load(ldir / MASK)
        else:
            load_state(model, previous)
            mask_next = prune(model, mask, cfg.pruning, torch.Generator().manual_seed(seed * 7919 + level))
            mask_next.save(ldir / MASK, level=level, threshold=magnitude_threshold(model, mask, mask_next))
        mask = mask_next
        info = infos[level] = {"level": level, "sparsity": mask.sparsity, "layer_sparsity": mask.layer_sparsity(),
                               "expected_sparsity": expected_sparsity(cfg.pruning.fraction, level)}
        if finished(ldir) is None:
            load_state(model, rewind)
        with MaskedTraining(model, mask) as enforce:
            metrics = run_stage(model, ldir, train, measured, callbacks=[enforce], extra=info)
        rows.append(_row("ticket", level, metrics, ldir / STUDENT))
        previous = ldir / STUDENT
        if cfg.control_levels == "all":
            rows += [_control(kind, level, mask, rewind, train, measured, out_dir, fresh_model, seed, info)
                     for kind in masked]
        if on_level is not None:
            on_level(level, cfg.levels)
    if cfg.control_levels == "reported" and cfg.levels > 0:
        level = select_level(rows)
        ldir = _level_dir(out_dir, level)
        rows += [_control(kind, level, Mask.load(ldir / MASK), rewind, train, measured, out_dir, fresh_model, seed,
                          infos[level]) for kind in masked]
    if "dense_seeds" in cfg.controls:
        rows += [_dense_seed(k, model, rewind_path(dense_dir, 0), reseed, measured, out_dir, seed)
                 for k in range(1, cfg.levels)]
    load_state(model, previous)
    return rows


def _control(kind: Control, level: int, mask: Mask, rewind: Path, train: TrainFn, measure: MeasureFn, out_dir: Path,
             fresh_model: Callable[[], nn.Module], seed: int, info: dict[str, Any]) -> dict[str, Any]:
    cdir = _level_dir(out_dir / kind, level)
    done = finished(cdir)
    if done is not None:
        return _row(kind, level, done, cdir / STUDENT)
    net = seeded_init(fresh_model, seed * 1009 + level)  # reinit: these random weights are the point of the control
    if kind == "random_mask":
        load_state(net, rewind)
        mask = Mask.load(cdir / MASK) if (cdir / MASK).exists() else mask.random_like(seed * 7919 + level)
    if not (cdir / MASK).exists():
        mask.save(cdir / MASK, level=level, control=kind)
    with MaskedTraining(net, mask) as enforce:
        metrics = run_stage(net, cdir, train, measure, callbacks=[enforce], extra={**info, "control": kind})
    return _row(kind, level, metrics, cdir / STUDENT)


def _dense_seed(k: int, model: nn.Module, start: Path, reseed: Callable[[int], TrainFn], measure: MeasureFn,
                out_dir: Path, seed: int) -> dict[str, Any]:
    """Repeat ``k`` of the dense run: the same start weights and recipe, another data-order seed."""
    ddir = out_dir / "dense_seeds" / f"seed_{k:02d}"
    if finished(ddir) is None:
        load_state(model, start)
    metrics = run_stage(model, ddir, reseed(seed * 1009 + 500 + k), measure,
                        extra={"level": 0, "sparsity": 0.0, "restart": k})
    return _row("dense_seed", 0, metrics, ddir / STUDENT)
