"""The online student trains through the shared stack: the Runtime's step (accumulation, autocast, the loss check)."""

from __future__ import annotations

import pytest
import torch

from vidsteal.attacks.blackbox.online import OnlineDistillConfig, OnlineStudent
from vidsteal.attacks.blackbox.replay import ReplayBuffer
from vidsteal.models import create_model
from vidsteal.train.distributed import Runtime


def _buffer() -> ReplayBuffer:
    g = torch.Generator().manual_seed(0)
    buffer = ReplayBuffer(6)
    buffer.add(torch.rand(40, 3, 4, 32, 32, generator=g), torch.softmax(torch.randn(40, 6, generator=g), 1))
    return buffer


def _trained(runtime: Runtime | None, steps: int = 4, **cfg) -> OnlineStudent:
    torch.manual_seed(0)  # a toy ViT: no BatchNorm, so micro-batches cannot differ by batch statistics
    student = OnlineStudent(create_model("test_vit_tiny_frame", num_classes=6),
                            OnlineDistillConfig(batch_size=12, **cfg), "kd", seed=1, runtime=runtime)
    student.train(_buffer(), steps)
    return student


def test_accumulation_gives_the_same_student_as_whole_batches():
    whole = _trained(None, train_frames=2)
    accumulated = _trained(Runtime("cpu", precision="32", accumulate=3), train_frames=2)
    assert accumulated.steps == whole.steps == 4
    for key, value in whole.model.state_dict().items():
        torch.testing.assert_close(accumulated.model.state_dict()[key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_bf16_autocast_trains_the_online_student_on_cpu():
    student = _trained(Runtime("cpu", precision="bf16"))  # the step raises if the loss is not finite
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in student.model.parameters())
    assert student.probs(torch.rand(3, 3, 4, 32, 32)).sum(1).allclose(torch.ones(3))


def test_a_non_finite_student_loss_is_reported():
    student = _trained(None, steps=0)
    with torch.no_grad():
        next(student.model.parameters()).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"student step 0 \(distill.lr\); lower the learning rate"):
        student.train(_buffer(), 1)
