"""Clips with motion change from frame to frame; the static ablation repeats its first frame exactly."""

from __future__ import annotations

import pytest
import torch

from vidsteal.attacks.blackbox.class_embedding import ClassEmbeddings, PriorConfig
from vidsteal.attacks.blackbox.trajectories import MOTION_DIMS, MotionConfig, frame_difference, make_clips
from vidsteal.models.generators import create_generator


@pytest.mark.parametrize("layout", ["frame", "sprite"])
def test_motion_vs_static(layout):
    g = torch.Generator().manual_seed(0)
    key0, key1 = torch.rand(4, 3, 32, 32, generator=g), torch.rand(4, 3, 32, 32, generator=g)
    motion = torch.randn(4, MOTION_DIMS, generator=g) * 2
    moving = make_clips(key0, key1, motion, 6, 16, MotionConfig(layout=layout))
    static = make_clips(key0, key1, motion, 6, 16, MotionConfig(layout=layout, static=True))
    assert moving.shape == static.shape == (4, 3, 6, 16, 16)
    assert (frame_difference(moving) > 1e-3).all()
    assert torch.equal(static, static[:, :, :1].expand_as(static))
    assert 0 <= moving.min() and moving.max() <= 1


def test_each_motion_parameter_moves_the_clip():
    key = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    for dim in range(MOTION_DIMS):
        motion = torch.zeros(1, MOTION_DIMS)
        motion[0, dim] = 2.0
        clip = make_clips(key, torch.rand(1, 3, 16, 16), motion, 4, 16, MotionConfig(layout="frame"))
        assert frame_difference(clip).item() > 1e-3, f"motion dim {dim} changed nothing"


def test_embedding_clips_are_differentiable_in_theta():
    prior = create_generator("test_dcgan")
    emb = ClassEmbeddings(prior, 3, PriorConfig(generator="test_dcgan"), MotionConfig(), 4, 16, seed=0)
    theta = emb.theta.clone().requires_grad_(True)
    clips = emb.render(theta, emb.noise(3, torch.Generator().manual_seed(0)))
    clips.mean().backward()
    assert theta.grad is not None and theta.grad.abs().sum() > 0
    static = ClassEmbeddings(prior, 3, PriorConfig(generator="test_dcgan"), MotionConfig(static=True), 4, 16, 0)
    assert static.dim == emb.dim - MOTION_DIMS  # nothing to search for motion in the ablation
