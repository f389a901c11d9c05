"""The in-process victim: answers like a remote one, white-box access only through ``logits``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vidsteal.data.clips import ClipError
from vidsteal.models import save_model
from vidsteal.victims import LocalOracle, OracleError, OutputMode


def test_query_returns_softmax_of_eval_model(victim, make_clips):
    clips = make_clips(6, 0)
    answers = victim.query(clips)
    with torch.no_grad():
        expected = torch.softmax(victim.model.eval()(clips), dim=1)
    assert torch.allclose(answers.probs, expected, atol=1e-6)
    assert answers.probs.requires_grad is False
    assert victim.queries == 6 and victim.info()["model"]["arch"] == "test_c3d"


def test_split_batches_and_train_mode_do_not_change_answers(make_victim, make_clips):
    clips = make_clips(7, 1)
    whole = make_victim().query(clips)
    small = make_victim()
    small.batch_size = 2
    small.model.train()  # a victim is put back into eval mode on every query
    assert torch.allclose(small.query(clips).probs, whole.probs, atol=1e-6)


def test_from_file_round_trip(victim, make_clips, tmp_path):
    path = save_model(victim.model, tmp_path / "victim.safetensors")
    loaded = LocalOracle.from_file(path, output_mode=OutputMode(kind="label"))
    clips = make_clips(3, 2)
    assert torch.equal(loaded.query(clips).top1, victim.query(clips).top1)


def test_from_registry_builds_named_model():
    oracle = LocalOracle.from_registry("test_c3d", 7, batch_size=4)
    assert oracle.num_classes == 7 and oracle.card.arch == "test_c3d"


class _Broken(nn.Module):
    def __init__(self, value: float, classes: int = 3) -> None:
        super().__init__()
        self.value, self.classes = value, classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0], self.classes), self.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_logits_raise(make_clips, value):
    oracle = LocalOracle(_Broken(value), num_classes=3)
    with pytest.raises(OracleError, match="NaN/Inf logits for 2 of 2"):
        oracle.query(make_clips(2, 0))
    assert oracle.queries == 0


def test_wrong_logit_shape_raises(make_clips):
    with pytest.raises(OracleError, match="expected \\(2, 4\\)"):
        LocalOracle(_Broken(0.0, classes=3), num_classes=4).query(make_clips(2, 0))


def test_plain_module_needs_num_classes():
    with pytest.raises(ValueError, match="num_classes"):
        LocalOracle(_Broken(0.0))


def test_bad_input_is_rejected(victim):
    with pytest.raises(ClipError):
        victim.query(torch.full((1, 3, 4, 16, 16), 2.0))


def test_white_box_logits_give_input_gradients_only(victim, make_clips):
    assert victim.differentiable
    clips = make_clips(2, 3).requires_grad_(True)
    victim.logits(clips).sum().backward()
    assert clips.grad is not None and clips.grad.abs().sum() > 0
    assert all(p.grad is None for p in victim.model.parameters())  # the victim is frozen
    assert victim.queries == 2
