"""The replay buffer keeps every paid clip (as the victim saw it, 8-bit) and summarises what the victim said."""

from __future__ import annotations

import math

import torch

from vidsteal.attacks.blackbox.replay import ReplayBuffer, transfer_stats
from vidsteal.data.clips import random_frames


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


def test_a_frame_subset_is_the_frames_of_the_same_draw_gathered_directly():
    buf = ReplayBuffer(num_classes=4)
    buf.add(torch.rand(50, 3, 8, 4, 4, generator=torch.Generator().manual_seed(1)),
            torch.softmax(torch.randn(50, 4, generator=torch.Generator().manual_seed(2)), 1))
    for balance in (0.0, 1.0):
        whole, targets = buf.sample(16, torch.Generator().manual_seed(5), balance)
        g = torch.Generator().manual_seed(5)
        sub, sub_targets = buf.sample(16, g, balance, frames=3)
        g_whole = torch.Generator().manual_seed(5)
        buf.sample(16, g_whole, balance)
        expected = random_frames(whole.transpose(1, 2), 3, g_whole).transpose(1, 2)
        assert sub.shape == (16, 3, 3, 4, 4) and torch.equal(sub, expected) and torch.equal(sub_targets, targets)
        assert torch.equal(g.get_state(), g_whole.get_state())  # the same random numbers were drawn
        assert not torch.equal(sub, whole[:, :3])  # a random subset, not the first frames
    all_frames = buf.sample(16, torch.Generator().manual_seed(5), frames=8)[0]  # frames >= T: the whole clips
    assert torch.equal(all_frames, buf.sample(16, torch.Generator().manual_seed(5))[0])


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
