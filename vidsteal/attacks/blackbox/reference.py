"""The ceiling beside every black-box result: the same student and budget, paid on the victim's own distribution.

Not an attack (it needs the victim's data generator, which a black-box attacker does not have): it pays for
fresh clips drawn from the embedded benchmark the victim was trained on (``source="train"``; a seed stream
disjoint from the victim's own train and test clips) or from the irrelevant auxiliary set (``source="aux"``, the
grey-box transfer set), through the same session, replay and student schedule as the real methods. What it
reaches at a budget is what any data-free method could hope for at that budget. For a victim vidsteal did not
train, ``data`` names a folder of the victim's own kind of clips (or images, for T = 1), disjoint from the test
data, that plays the benchmark's part.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from vidsteal.attacks.blackbox.session import BlackboxAttack, BlackboxConfig, Session
from vidsteal.attacks.registry import register_attack
from vidsteal.data.clips import to_model_input
from vidsteal.data.embedded import make_auxiliary, make_split
from vidsteal.data.sources import DataSpecError, materialise, resolve_aux
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.models.registry import ModelCard


class ReferenceConfig(BlackboxConfig):
    benchmark: BenchmarkConfig | None = Field(None, description="the victim's benchmark (default: its card)")
    source: Literal["train", "aux"] = Field("train", description="victim's distribution, or irrelevant clips")
    batch: int = Field(256, ge=1, description="clips paid per step")
    data: str | None = Field(None, description="a folder of clips from the victim's own distribution (any layout); "
                             "replaces the benchmark, for victims vidsteal did not train")


@register_attack
class ReferenceAttack(BlackboxAttack):
    name = "reference"
    config_class: ClassVar[type[ReferenceConfig]] = ReferenceConfig  # type: ignore[assignment]
    config: ReferenceConfig

    def setup(self, session: Session) -> None:
        self.next = 0
        if self.config.data is not None:
            self.pool = self._folder_pool(session)
            return
        bench = self.config.benchmark
        if bench is None:
            raise ValueError("the reference needs the victim's benchmark; only vidsteal's embedded victims carry it")
        if (bench.frames, bench.size) != (session.frames, session.size):
            raise ValueError(f"benchmark clips are {bench.frames}x{bench.size}px, the victim takes "
                             f"{session.frames}x{session.size}px")
        seed = 100 + self.config.seed  # victims use seed 0 of the train/test streams; these clips are new
        n = self.config.budget
        self.pool = (make_split(bench, "train", n, seed) if self.config.source == "train"
                     else make_auxiliary(bench, n, seed)).clips

    def _folder_pool(self, session: Session) -> torch.Tensor:
        """Up to ``budget`` clips of the ``data`` folder, decoded for the victim, in a fixed order by the seed."""
        card = ModelCard(arch="reference", num_classes=session.num_classes, frames=session.frames, size=session.size)
        found = resolve_aux(str(self.config.data), card, self.config.budget, seed=100 + self.config.seed)
        if len(found) < self.config.budget:
            raise DataSpecError(f"the ceiling's data {self.config.data} holds {len(found)} clips, fewer than the "
                                f"budget ({self.config.budget}): the ceiling pays each clip once")
        return materialise(found, [], f"the ceiling's data {self.config.data}").clips

    def step(self, session: Session) -> None:
        n = min(self.config.batch, session.remaining, len(self.pool) - self.next)
        if n <= 0:
            raise RuntimeError(f"the reference pool ({len(self.pool)} clips) is exhausted before the budget "
                               f"({self.config.budget})")
        session.pay(to_model_input(self.pool[self.next:self.next + n]))
        self.next += n

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return {"next": torch.tensor(self.next)}, {}

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        self.next = int(tensors["next"])
