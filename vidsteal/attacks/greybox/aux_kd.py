"""Grey-box stage 1: knowledge distillation on an irrelevant, unlabeled video set.

Threat model: the attacker owns unlabeled clips from another domain (at full scale Moments in Time; here the
embedded irrelevant set or any folder of videos) and query access to the victim. It pays one query per clip,
through the oracle (budget, durable log: a re-run answers already-paid clips for free), and distils a student
with the loss the victim's output mode allows (KL at temperature T on scores, cross-entropy on labels only).
No victim gradients are used. Query cost: ``len(aux)`` once; training is free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from torch import nn
from torch.utils.data import Dataset

from vidsteal.attacks.greybox.stage import MeasureFn, commit, finished
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
) -> dict[str, Any]:
    """Query the victim on every clip of ``aux`` and distil ``student`` (in place) on its answers.

    Returns the stage metrics (``measure``'s numbers, queries answered, loss used); a finished stage folder is
    read back without querying or training again.
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
    return commit(student, out_dir, {**measure(student), "answered": len(transfer), "budget_exhausted": exhausted,
                                     "loss": loss, "history": history})
