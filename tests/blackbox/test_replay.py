"""The replay buffer keeps every paid clip (as the victim saw it, 8-bit) and summarises what the victim said."""

from __future__ import annotations

import math

import torch

from vidsteal.attacks.blackbox.replay import ReplayBuffer, transfer_stats


def test_buffer_grows_and_samples_what_was_added():
    buf = ReplayBuffer(num_classes=3)
    g = torch.Generator().manual_seed(0)
    for i in range(5):  # several adds force the storage to grow past its first allocation
        clips = torch.full((100, 3, 2, 4, 4), i / 10)
        buf.add(clips, torch.nn.functional.one_hot(torch.full((100,), i % 3), 3).float())
    assert len(buf) == 500 and buf.clips.dtype == torch.uint8
    clips, targets = buf.sample(64, g)
    level = (clips[:, 0, 0, 0, 0] * 10).round().long()  # which add each sample came from
    assert torch.equal(targets.argmax(1), level % 3)


def test_transfer_stats():
    uniform = torch.eye(4).repeat(25, 1)  # every class top-1 equally often, with full confidence
    stats = transfer_stats(uniform)
    assert stats["classes_covered"] == 4 and math.isclose(stats["top1_entropy_bits"], 2.0, rel_tol=1e-6)
    assert stats["mean_confidence"] == 1.0
    one = transfer_stats(torch.tensor([[0.6, 0.4, 0.0]]).repeat(10, 1))
    assert one["classes_covered"] == 1 and one["top1_entropy_bits"] == 0.0 and math.isclose(one["mean_confidence"], 0.6, rel_tol=1e-6)
