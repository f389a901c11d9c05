"""Rich progress for long loops: a training callback that draws one bar per epoch."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import nn

from vidsteal.train.loop import Callback

console = Console(stderr=True)


def make_progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console,
    )


class TrainProgress(Callback):
    """Shows epochs and steps of :func:`vidsteal.train.loop.fit` inside a rich ``Progress``."""

    def __init__(self, progress: Progress, label: str, epochs: int) -> None:
        self.progress = progress
        self.epochs_task = progress.add_task(f"{label} epochs", total=epochs, info="")
        self.steps_task = progress.add_task(f"{label} steps", total=None, info="")

    def on_step(self, epoch: int, step: int, steps: int, logs: dict[str, float]) -> None:
        if step == 0:
            self.progress.reset(self.steps_task, total=steps)
        self.progress.update(self.steps_task, completed=step + 1, info=f"loss {logs['loss']:.3f}")

    def on_epoch_end(self, epoch: int, model: nn.Module, logs: dict[str, Any]) -> None:
        extra = "  ".join(f"{k} {v:.3f}" for k, v in logs.items() if k != "epoch" and isinstance(v, float))
        self.progress.update(self.epochs_task, completed=epoch + 1, info=extra)


class StageBars:
    """One bar per stage label an attack reports (an ``AttackContext.progress`` callable), created on first use."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.tasks = progress, {}

    def __call__(self, label: str, done: int, total: int | None) -> None:
        if label not in self.tasks:
            self.tasks[label] = self.progress.add_task(label, total=total, info="")
        self.progress.update(self.tasks[label], completed=done, total=total)
