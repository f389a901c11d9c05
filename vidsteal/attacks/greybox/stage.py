"""Idempotent training stages: a folder that either holds a finished stage or resumes the unfinished one.

A stage folder ends up with ``student.safetensors`` (weights, with the model card when the model has one) and
``metrics.json``, written last and atomically (:func:`vidsteal.runs.finish`): the commit point. A folder with
``metrics.json`` is done and is only read back (open_lth's ``if exists: return``). An unfinished stage resumes
from ``checkpoint/`` through :func:`~vidsteal.train.loop.fit`; the checkpoint is deleted once the stage commits,
since nothing reads it again.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

from torch import nn

from vidsteal import runs
from vidsteal.models.registry import ModelCard, save_model
from vidsteal.pruning.apply import SnapshotAt, load_state, save_state
from vidsteal.train.loop import Callback

TrainFn = Callable[[nn.Module, Path, Sequence[Callback]], list]  # (model, checkpoint dir, callbacks) -> history
MeasureFn = Callable[[nn.Module], dict[str, Any]]

STUDENT = "student.safetensors"
finished = runs.finished  # a stage folder is a run folder: done when its metrics.json exists


def rewind_path(stage_dir: Path, epoch: int) -> Path:
    """Weights a stage had after ``epoch`` training epochs (0 = the weights it started from)."""
    return Path(stage_dir) / ("start.safetensors" if epoch == 0 else f"epoch_{epoch}.safetensors")


def commit(model: nn.Module, out_dir: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """Save the stage's weights, then ``metrics.json`` (the commit point), then drop the resume checkpoint."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    card = getattr(model, "card", None)
    if isinstance(card, ModelCard):
        save_model(model, out_dir / STUDENT, card)
    else:
        save_state(model, out_dir / STUDENT)
    runs.finish(out_dir, metrics)
    shutil.rmtree(out_dir / "checkpoint", ignore_errors=True)
    return metrics


def run_stage(
    model: nn.Module,
    out_dir: Path,
    train: TrainFn,
    measure: MeasureFn,
    *,
    callbacks: Sequence[Callback] = (),
    snapshot_epochs: Sequence[int] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place as one resumable stage; a finished stage only loads its weights into ``model``.

    Args:
        snapshot_epochs: also keep the weights after these many epochs (rewind points); 0 keeps the start weights.
        extra: fields added to the stage's metrics (e.g. queries, sparsity).
    """
    out_dir = Path(out_dir)
    done = finished(out_dir)
    if done is not None:
        load_state(model, out_dir / STUDENT)
        return done
    out_dir.mkdir(parents=True, exist_ok=True)
    snaps: list[Callback] = []
    for epoch in snapshot_epochs:
        if epoch == 0:
            if not rewind_path(out_dir, 0).exists():  # on resume the model passed in is again the start weights
                save_state(model, rewind_path(out_dir, 0))
        else:
            snaps.append(SnapshotAt(epoch, rewind_path(out_dir, epoch)))
    history = train(model, out_dir / "checkpoint", [*callbacks, *snaps])
    return commit(model, out_dir, {**measure(model), **(extra or {}), "history": history})
