"""Gradient mode is the reference study's white-box setting: it must refuse a victim that only answers queries."""

from __future__ import annotations

import pytest
import torch

from vidsteal.attacks.base import AttackContext
from vidsteal.attacks.blackbox.class_embedding import WhiteBoxRequired, white_box_victim
from vidsteal.attacks.registry import create_attack
from vidsteal.models import create_model, load_model
from vidsteal.victims import LocalOracle, LoggedOracle, QueryBudget
from vidsteal.victims.base import Oracle
from vidsteal.victims.outputs import apply_output_mode


class RemoteLike(Oracle):
    """Answers queries like a server would: probabilities only, no logits, not differentiable."""

    def __init__(self, model: torch.nn.Module, num_classes: int) -> None:
        super().__init__(num_classes)
        self.model = model.eval()

    def _answer(self, clips: torch.Tensor):
        with torch.no_grad():
            return apply_output_mode(torch.softmax(self.model(clips), 1), self.output_mode)


def _attack(mode: str):
    return create_attack("embeddings", {"budget": 50, "frames": 4, "size": 16, "search": {"mode": mode},
                                        "prior": {"generator": "test_dcgan"}})


@pytest.mark.parametrize("wrap", [False, True])
def test_gradient_mode_refuses_remote_victim(victim_path, tmp_path, wrap):
    remote = RemoteLike(load_model(victim_path), 6)
    oracle = LoggedOracle(remote, tmp_path / "q", QueryBudget(50)) if wrap else remote
    student = create_model("test_frame_cnn", 6)
    with pytest.raises(WhiteBoxRequired, match="only answers queries.*search.mode=query_only"):
        _attack("gradient").run(oracle, student, AttackContext(tmp_path))
    assert remote.queries == 0  # refused before paying for anything


def test_white_box_is_found_only_through_transparent_wrappers(victim_path, tmp_path):
    local = LocalOracle.from_file(victim_path)
    with LoggedOracle(local, tmp_path / "q", QueryBudget(10)) as logged:
        assert white_box_victim(logged) is local
    assert _attack("query_only").needs_gradients is False
    assert _attack("gradient").needs_gradients is True
