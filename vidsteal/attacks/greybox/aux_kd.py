"""Grey-box stage 1: knowledge distillation on an irrelevant, unlabeled video set.

Threat model: the attacker owns unlabeled clips from another domain (at full scale Moments in Time; here the
embedded irrelevant set or any folder of videos) and query access to the victim. It pays one query per clip,
through the oracle (budget, durable log: a re-run answers already-paid clips for free), and distils a student
with the loss the victim's output mode allows (KL at temperature T on scores, cross-entropy on labels only).
No victim gradients are used. Query cost: ``len(aux)`` once; training is free.

The auxiliary clips are out of the victim's domain, so batch-norm statistics learnt on them misdescribe the clips
the student will be used on. When the attacker holds clips of the victim's domain (the grey-box labeled fraction),
the statistics are re-estimated on their pixels after training (AdaBN, Li et al. 2016: no labels, no queries).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch.optim.swa_utils import update_bn
from torch.utils.data import DataLoader, Dataset

from vidsteal.attacks.greybox.stage import MeasureFn, commit, finished
from vidsteal.data.clips import to_model_input
from vidsteal.distill.losses import default_loss
from vidsteal.distill.student import DistillConfig, distill_loss_fn
from vidsteal.distill.transfer import query_dataset
from vidsteal.pruning.apply import load_state
from vidsteal.train.loop import Callback, fit
from vidsteal.victims.base import Oracle


def aux_kd(
    oracle: Oracle,
    student: nn.Module,
    aux: Dataset,
    cfg: DistillConfig,
    out_dir: Path,
    *,
    measure: MeasureFn,
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    on_query: Callable[[int, int], None] | None = None,
    calibrate: Dataset | None = None,
) -> dict[str, Any]:
    """Query the victim on every clip of ``aux`` and distil ``student`` (in place) on its answers.

    ``calibrate``: clips of the victim's domain (labels unused) to re-estimate batch-norm statistics on after
    training; None or empty keeps the statistics of the auxiliary clips. Returns the stage metrics (``measure``'s
    numbers, queries answered, loss used); a finished stage folder is read back without querying or training again.
    """
    out_dir = Path(out_dir)
    done = finished(out_dir)
    if done is not None:
        load_state(student, out_dir / "student.safetensors")
        return done
    transfer, exhausted = query_dataset(oracle, aux, on_batch=on_query)
    if len(transfer) == 0:
        raise RuntimeError("the query budget allowed no auxiliary clip at all; raise the budget")
    loss = cfg.loss or default_loss(oracle.output_mode.kind)
    history = fit(student, transfer, distill_loss_fn(loss, cfg.temperature), cfg.optim, seed=seed,
                  ckpt_dir=out_dir / "checkpoint", callbacks=callbacks)
    calibrated = calibrate is not None and len(calibrate) > 0  # type: ignore[arg-type]
    if calibrated:
        recalibrate_batchnorm(student, calibrate)  # type: ignore[arg-type]
    return commit(student, out_dir, {**measure(student), "answered": len(transfer), "budget_exhausted": exhausted,
                                     "loss": loss, "bn_calibrated": calibrated, "history": history})


def recalibrate_batchnorm(model: nn.Module, clips: Dataset, batch_size: int = 64) -> None:
    """Batch-norm running statistics of ``model`` re-estimated (cumulative average) on ``clips``' uint8 clips."""
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[]):  # dropout runs in train mode here: leave the caller's RNG alone
        update_bn((to_model_input(batch).to(device) for batch, _ in DataLoader(clips, batch_size=batch_size)), model)
