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
    assert clips.shape == (64, 2, 3, 4, 4) and clips.dtype == torch.uint8  # as stored: (N, T, C, H, W), 8-bit
    level = (clips[:, 0, 0, 0, 0].float() / 255 * 10).round().long()  # which add each sample came from
    assert torch.equal(targets.argmax(1), level % 3)


def test_transfer_stats():
    uniform = torch.eye(4).repeat(25, 1)  # every class top-1 equally often, with full confidence
    stats = transfer_stats(uniform)
    assert stats["classes_covered"] == 4 and math.isclose(stats["top1_entropy_bits"], 2.0, rel_tol=1e-6)
    assert stats["mean_confidence"] == 1.0
    one = transfer_stats(torch.tensor([[0.6, 0.4, 0.0]]).repeat(10, 1))
    assert one["classes_covered"] == 1 and one["top1_entropy_bits"] == 0.0 and math.isclose(one["mean_confidence"], 0.6, rel_tol=1e-6)


def test_balanced_sampling_evens_out_the_victims_top1_classes():
    buf = ReplayBuffer(3)
    targets = torch.eye(3)[torch.tensor([0] * 90 + [1] * 10)]  # class 2 never answered
    clips = torch.arange(100).float().div(100).view(100, 1, 1, 1, 1).expand(100, 3, 2, 4, 4)
    buf.add(clips[:60], targets[:60])  # counts add up across calls
    buf.add(clips[60:], targets[60:])
    assert buf.top1_counts.tolist() == [90.0, 10.0, 0.0]
    g = torch.Generator().manual_seed(0)
    _, uniform = buf.sample(4000, g)
    _, balanced = buf.sample(4000, g, balance=1.0)
    _, half = buf.sample(4000, g, balance=0.5)
    share = lambda t: t[:, 1].mean().item()  # noqa: E731  share of class-1 clips drawn
    assert abs(share(uniform) - 0.10) < 0.02
    assert abs(share(balanced) - 0.50) < 0.03
    assert abs(share(half) - 0.25) < 0.03  # sqrt weights: 10/sqrt(10) vs 90/sqrt(90)
    again = buf.sample(16, torch.Generator().manual_seed(3), balance=1.0)
    assert torch.equal(again[0], buf.sample(16, torch.Generator().manual_seed(3), balance=1.0)[0])  # seeded
