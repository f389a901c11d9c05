"""The student guide moves pool candidates toward the class they aim at, spends no query, leaves the student as it
was, and keeps blocks of clips that share keyframes sharing them."""

from __future__ import annotations

import pytest
import torch

from vidsteal.attacks.blackbox.class_embedding import ClassEmbeddings, PriorConfig
from vidsteal.attacks.blackbox.guide import guide_blocks
from vidsteal.attacks.blackbox.online import OnlineDistillConfig, OnlineStudent
from vidsteal.attacks.blackbox.trajectories import MotionConfig
from vidsteal.models import create_model
from vidsteal.models.generators import create_prior_for


def _setup(k: int = 3, blocks: int = 6, per_block: int = 2):
    torch.manual_seed(0)
    prior = create_prior_for("test_dcgan", 16)
    emb = ClassEmbeddings(prior, k, PriorConfig(generator="test_dcgan"), MotionConfig(), 4, 16, seed=0)
    student = create_model("test_frame_cnn", num_classes=k)
    head = [m for m in student.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        head.weight.mul_(30)  # a decisive student: an untrained one is near uniform everywhere
    learner = OnlineStudent(student, OnlineDistillConfig(precision="32"), "kd", seed=0)
    g = torch.Generator().manual_seed(1)
    aims = torch.nn.functional.one_hot(torch.arange(blocks) % k, k).float()
    theta = emb.theta[torch.arange(blocks) % k].clone()
    noise = emb.noise(blocks * per_block - 1, g, per_block)  # the last block is cut short, as in the pool
    return emb, learner, theta, aims, noise, per_block


def _cross_entropy(emb, learner, theta, aims, noise, per_block) -> torch.Tensor:
    n = noise["z0"].shape[0]
    with torch.no_grad():
        logp = torch.log_softmax(learner.logits(emb.render(theta.repeat_interleave(per_block, 0)[:n], noise)), 1)
    return -(aims.repeat_interleave(per_block, 0)[:n] * logp).sum(1).mean()


def test_guide_lowers_the_students_cross_entropy_against_the_aims_and_costs_the_student_nothing():
    emb, learner, theta, aims, noise, per_block = _setup()
    before = _cross_entropy(emb, learner, theta, aims, noise, per_block)
    params = {name: p.detach().clone() for name, p in learner.model.named_parameters()}
    learner.model.train()
    for latents in (False, True):
        moved, out = guide_blocks(emb, learner, theta, aims, noise, per_block, steps=20, lr=0.5, latents=latents,
                                  frames=None, chunk=4)  # chunks of 4 blocks: one full, one partial
        after = _cross_entropy(emb, learner, moved, aims, out, per_block)
        assert after < before - 0.05, (latents, float(before), float(after))
        assert moved.shape == theta.shape and not moved.requires_grad
        assert out["z0"].shape == noise["z0"].shape and not out["z0"].requires_grad
        assert torch.equal(out["jitter"], noise["jitter"])  # per-clip motion jitter is not the guide's to move
        if latents:  # every block's clips still share one keyframe pair, and the pair moved
            z = out["z0"][: (noise["z0"].shape[0] // per_block) * per_block].view(-1, per_block, out["z0"].shape[1])
            assert torch.equal(z, z[:, :1].expand_as(z)) and not torch.equal(out["z0"], noise["z0"])
        else:
            assert torch.equal(out["z0"], noise["z0"])
    assert learner.model.training  # the caller's mode is restored
    assert all(p.grad is None for p in learner.model.parameters())  # nothing left for the student's optimiser
    assert all(torch.equal(p, params[name]) for name, p in learner.model.named_parameters())


@pytest.mark.parametrize("clips", [None, 1])
def test_guided_pool_run_spends_exactly_its_budget(make_job, tmp_path, clips):
    from vidsteal.pipeline.blackbox import run_blackbox

    job = make_job("embeddings", 300, pool={"guide_steps": 2, "guide_latents": True, "guide_clips": clips})
    metrics = run_blackbox(job, tmp_path / "run")
    m = metrics["metrics"]
    assert m["queries"] == 300 and m["paid"] == 300 and m["white_box"] == 0 and m["ledger"]["paid"] == 300


def test_chunks_bound_memory_not_the_result():
    emb, learner, theta, aims, noise, per_block = _setup()
    a = guide_blocks(emb, learner, theta, aims, noise, per_block, 3, 0.5, True, None, chunk=2)
    b = guide_blocks(emb, learner, theta, aims, noise, per_block, 3, 0.5, True, None, chunk=6)
    assert torch.allclose(a[0], b[0], atol=1e-4) and torch.allclose(a[1]["z1"], b[1]["z1"], atol=1e-4)
    assert not torch.allclose(a[0], theta, atol=1e-2)  # and the steps did move the rows


def test_a_blocks_first_clips_stand_for_it_and_all_clips_is_the_full_guide():
    emb, learner, theta, aims, noise, per_block = _setup(per_block=3)
    full = guide_blocks(emb, learner, theta, aims, noise, per_block, 3, 0.5, True, None)
    same = guide_blocks(emb, learner, theta, aims, noise, per_block, 3, 0.5, True, None, clips=per_block)
    assert torch.equal(full[0], same[0]) and torch.equal(full[1]["z0"], same[1]["z0"])
    before = _cross_entropy(emb, learner, theta, aims, noise, per_block)
    moved, out = guide_blocks(emb, learner, theta, aims, noise, per_block, 20, 0.5, True, None, clips=1)
    assert not torch.allclose(moved, full[0], atol=1e-3)  # a different (one-clip) gradient estimate
    # every clip of a block, seen by the loss or not, gets the block's moved keyframes, and the CE of all falls
    n = noise["z0"].shape[0]
    z = out["z0"][: (n // per_block) * per_block].view(-1, per_block, out["z0"].shape[1])
    assert torch.equal(z, z[:, :1].expand_as(z)) and not torch.equal(out["z0"], noise["z0"])
    assert _cross_entropy(emb, learner, moved, aims, out, per_block) < before - 0.05
