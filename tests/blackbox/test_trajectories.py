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


@pytest.mark.parametrize("static", [False, True])
def test_frame_layout_clips_sharing_keyframes_differ_by_camera_offset_and_mirror(static):
    """The pool pays blocks of clips that share keyframes; with the whole frame moving (and certainly when static)
    they would be identical but for motion jitter, and identical clips are answered once: wasted budget."""
    key = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2)).expand(4, -1, -1, -1)
    motion = torch.zeros(4, MOTION_DIMS)
    centre = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.3, -0.2], [0.0, 0.0]])
    polarity = torch.tensor([1.0, -1.0, 1.0, 1.0])
    clips = make_clips(key, key, motion, 4, 16, MotionConfig(layout="frame", static=static), centre, polarity)
    assert torch.allclose(clips[3], key[0].unsqueeze(1).expand(-1, 4, -1, -1), atol=1e-5)  # no offset: the image
    torch.testing.assert_close(clips[1], clips[0].flip(-1), atol=1e-5, rtol=0)  # polarity -1 mirrors the view
    assert (clips[2] - clips[0]).abs().mean() > 0.05  # the camera looks elsewhere


def test_each_motion_parameter_moves_the_clip():
    key = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    for dim in range(MOTION_DIMS):
        motion = torch.zeros(1, MOTION_DIMS)
        motion[0, dim] = 2.0
        clip = make_clips(key, torch.rand(1, 3, 16, 16), motion, 4, 16, MotionConfig(layout="frame"))
        assert frame_difference(clip).item() > 1e-3, f"motion dim {dim} changed nothing"


def test_one_kind_moves_each_clip_one_way_only():
    """Kinds still / pan / roll / zoom keep only their own coordinates (and the latent path): each clip renders as
    if the others were zero, and a still clip of one keyframe does not change (but for rounding)."""
    key = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    motion = torch.full((4, MOTION_DIMS), 1.5)
    kind = torch.tensor([0.0, 1, 2, 3])
    cfg = MotionConfig(one_kind=True)
    clips = make_clips(key, None, motion, 5, 16, cfg, kind=kind)
    keep = torch.tensor([[0.0, 0, 0, 0, 1], [1, 1, 0, 0, 1], [0, 0, 1, 0, 1], [0, 0, 0, 1, 1]])
    alone = make_clips(key, None, motion * keep, 5, 16, MotionConfig())
    torch.testing.assert_close(clips, alone, rtol=0, atol=1e-6)
    assert frame_difference(clips)[0] < 1e-6 and (frame_difference(clips)[1:] > 1e-3).all()
    assert not torch.equal(clips, make_clips(key, None, motion, 5, 16, MotionConfig()))


def test_one_kind_draws_one_kind_per_clip_after_the_usual_noise():
    """Without one_kind the per-clip noise is what it always was; with it only a ``kind`` entry (drawn last) is
    added, all four kinds occur, and it follows the clips through the search's batching and a render."""
    prior = create_generator("test_dcgan")
    plain = ClassEmbeddings(prior, 3, PriorConfig(generator="test_dcgan"), MotionConfig(), 4, 16, seed=0)
    kinds = ClassEmbeddings(prior, 3, PriorConfig(generator="test_dcgan"), MotionConfig(one_kind=True), 4, 16, 0)
    a, b = plain.noise(64, torch.Generator().manual_seed(5)), kinds.noise(64, torch.Generator().manual_seed(5))
    assert "kind" not in a and set(b) == set(a) | {"kind"}
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert set(b["kind"].tolist()) == {0.0, 1.0, 2.0, 3.0}
    theta = kinds.theta.repeat(2, 1)
    noise = {k: v[:6] for k, v in b.items()}
    clips = kinds.render(theta, noise)
    columnar = kinds.render(theta, {**noise, "kind": noise["kind"].view(-1, 1)})  # as the NES search batches it
    assert torch.equal(clips, columnar)
    assert not torch.equal(clips, plain.render(theta, {k: v[:6] for k, v in a.items()}))


def test_embedding_clips_are_differentiable_in_theta():
    prior = create_generator("test_dcgan")
    emb = ClassEmbeddings(prior, 3, PriorConfig(generator="test_dcgan"), MotionConfig(), 4, 16, seed=0)
    theta = emb.theta.clone().requires_grad_(True)
    clips = emb.render(theta, emb.noise(3, torch.Generator().manual_seed(0)))
    clips.mean().backward()
    assert theta.grad is not None and theta.grad.abs().sum() > 0
    static = ClassEmbeddings(prior, 3, PriorConfig(generator="test_dcgan"), MotionConfig(static=True), 4, 16, 0)
    assert static.dim == emb.dim - MOTION_DIMS  # nothing to search for motion in the ablation


def _embeddings(**prior) -> ClassEmbeddings:
    prior.setdefault("precision", "32")
    return ClassEmbeddings(create_generator("test_dcgan"), 3, PriorConfig(generator="test_dcgan", **prior),
                           MotionConfig(), 4, 16, seed=0)


def test_clips_sharing_an_embedding_share_one_keyframe_render():
    emb = _embeddings(render_batch=5)
    rows: list[int] = []
    emb.prior.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    theta = emb.theta.repeat_interleave(4, 0)  # 3 embeddings x 4 clips
    noise = emb.noise(12, torch.Generator().manual_seed(0), per_image=4)
    clips = emb.render(theta, noise)
    assert sum(rows) == 2 * 3  # keyframe + background per distinct (embedding, latents), not per clip
    alone = torch.cat([emb.render(theta[i:i + 1], {k: v[i:i + 1] for k, v in noise.items()}) for i in range(12)])
    torch.testing.assert_close(clips, alone, rtol=0, atol=1e-5)  # the same clips as rendering each on its own
    assert not torch.equal(clips[0], clips[1])  # clips of one keyframe pair still move / sit differently


def test_distinct_inputs_render_as_before():
    """Without repeats every clip gets its own keyframes, rendered in the generator batches rendering always used,
    so the clips are exactly those of the direct recipe (prior -> make_clips, one render batch at a time)."""
    emb = _embeddings(render_batch=4)
    theta = emb.theta[torch.tensor([0, 1, 2, 0, 1, 2, 0])]
    noise = emb.noise(7, torch.Generator().manual_seed(1))
    rows: list[int] = []
    hook = emb.prior.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    clips = emb.render(theta, noise)
    assert rows == [4, 3, 4, 3]  # keyframes of clips 0-3, 4-6, then backgrounds likewise
    hook.remove()
    cls, lat, mot = theta.split([emb.kc, emb.kl, emb.km], dim=1)
    cvec, shift = cls @ emb.cls_basis.T, lat @ emb.lat_basis.T
    for part in (slice(0, 4), slice(4, 7)):
        direct = make_clips(emb.prior(noise["z0"][part] + shift[part], cvec[part]),
                            emb.prior(noise["z1"][part] + shift[part], cvec[part]), mot[part] + noise["jitter"][part],
                            4, 16, emb.motion, noise["centre"][part], noise["polarity"][part])
        assert torch.equal(clips[part], direct)


def test_bf16_prior_stays_close_to_float32():
    g = torch.Generator().manual_seed(2)
    exact, fast = _embeddings(), _embeddings(precision="bf16")
    noise = exact.noise(6, g)
    theta = exact.theta.repeat(2, 1)
    with torch.no_grad():
        diff = (exact.render(theta, noise) - fast.render(theta, noise)).abs()
    assert diff.mean() < 2e-3 and diff.max() < 0.05


def test_clips_per_image_divides_the_prior_renders_of_a_run(make_job, tmp_path, monkeypatch):
    """Search groups and pool blocks of 4 clips share one keyframe pair: ~4x fewer generator rows per query."""
    from vidsteal.models.generators.dcgan import TinyDCGAN
    from vidsteal.pipeline.blackbox import run_blackbox

    rows: list[int] = []
    generate = TinyDCGAN._generate
    monkeypatch.setattr(TinyDCGAN, "_generate", lambda self, z, c: rows.append(z.shape[0]) or generate(self, z, c))
    run_blackbox(make_job("embeddings", 256, prior={"clips_per_image": 1}), tmp_path / "each")
    each = sum(rows)
    rows.clear()
    out = run_blackbox(make_job("embeddings", 256, prior={"clips_per_image": 4}), tmp_path / "shared")
    assert out["metrics"]["queries"] == 256 and out["metrics"]["search"]["search_queries"] > 0
    assert 3 * sum(rows) <= each


def test_noise_baseline_moves_through_the_embedding_renderer():
    from vidsteal.attacks.blackbox.noise import NoiseAttackConfig, moving_noise_clips, noise_clips

    cfg = NoiseAttackConfig()
    clips = moving_noise_clips(6, 4, 16, cfg, torch.Generator().manual_seed(0))
    assert clips.shape == (6, 3, 4, 16, 16) and 0 <= clips.min() and clips.max() <= 1
    assert (frame_difference(clips) > 1e-3).all()
    assert torch.equal(clips, moving_noise_clips(6, 4, 16, cfg, torch.Generator().manual_seed(0)))
    static = moving_noise_clips(6, 4, 16, NoiseAttackConfig(motion=MotionConfig(static=True)),
                                torch.Generator().manual_seed(0))
    assert (frame_difference(static) == 0).all()  # the same renderer: its static ablation holds
    assert noise_clips(2, 4, 16, cfg.scales, torch.Generator().manual_seed(0)).shape == (2, 3, 4, 16, 16)


def test_rare_allocation_aims_the_pool_at_classes_the_victim_seldom_answers():
    from types import SimpleNamespace

    from vidsteal.attacks.registry import create_attack

    attack = create_attack("embeddings", {"pool": {"allocate": "rare"}})
    attack.rng, attack.emb = torch.Generator().manual_seed(0), SimpleNamespace(num_classes=4)
    aims = attack._pool_aims(4000, torch.tensor([999.0, 0.0, 0.0, 99.0]))
    counts = torch.bincount(aims, minlength=4)
    assert counts[0] < 10 and counts[3] < counts[1] / 50 and abs(int(counts[1]) - int(counts[2])) < 200


def test_pool_augmentation_is_the_documented_jitter_bit_for_bit_and_leaves_its_input_alone():
    from vidsteal.attacks.blackbox.pool import augment

    clips = torch.rand(6, 3, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    before = clips.clone()
    out = augment(clips, 0.3, torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(2)  # the formula, out of place, with the same draws in the same order
    contrast = 1 + (torch.rand(6, 1, 1, 1, 1, generator=g) * 2 - 1) * 0.3
    bright = (torch.rand(6, 1, 1, 1, 1, generator=g) - 0.5) * 0.3
    gain = 1 + (torch.rand(6, 3, 1, 1, 1, generator=g) - 0.5) * 0.3
    mean = clips.mean(dim=(1, 2, 3, 4), keepdim=True)
    expected = (((clips - mean) * contrast + mean + bright) * gain
                + torch.randn(clips.shape, generator=g) * 0.1 * 0.3).clamp(0, 1)
    assert torch.equal(out, expected) and torch.equal(clips, before)
    assert not torch.equal(out, clips) and augment(clips, 0.0, g) is clips


def test_pool_mixup_blends_a_share_of_the_clips_with_partners_of_the_batch_and_their_aims_alike():
    from vidsteal.attacks.blackbox.pool import mixup
    g = torch.Generator().manual_seed(0)
    clips, aims = torch.rand(64, 3, 4, 8, 8), torch.eye(64)  # one class per clip: a blended aim names the partner
    out, blended = mixup(clips, aims, 0.5, g)
    assert torch.allclose(blended.sum(1), torch.ones(64))
    mixed = 0
    for i in range(64):
        lam = 1 - blended[i, i]
        if lam < 1e-6:  # untouched (or blended with itself)
            assert torch.equal(out[i], clips[i])
            continue
        j = int(torch.where(torch.arange(64) == i, 0.0, blended[i]).argmax())
        assert torch.allclose(out[i], (1 - lam) * clips[i] + lam * clips[j], atol=1e-5)
        mixed += 1
    assert 16 < mixed < 48
    state = g.get_state()
    assert mixup(clips, aims, 0.0, g)[0] is clips and torch.equal(g.get_state(), state)  # off: no copy, no draw


@pytest.mark.parametrize("free", [0.0, 1.0])
def test_free_motion_redraws_the_searched_samples_motion_and_keeps_their_look(free):
    from types import SimpleNamespace

    from vidsteal.attacks.registry import create_attack

    attack = create_attack("embeddings", {"pool": {"mix": {"class": 0.5, "prior": 0.5}, "spread": 0.0,
                                                   "free_motion": free}})
    k, look, km = 3, 4, 5
    theta = torch.randn(k, look + km)
    attack.rng = torch.Generator().manual_seed(0)
    attack.emb = SimpleNamespace(num_classes=k, theta=theta, kc=look, kl=0, km=km)
    attack.search = SimpleNamespace(history=torch.zeros(0), searched=torch.ones(k, dtype=torch.bool))
    attack._prior_embeddings = lambda n: torch.full((n, look + km), 7.0)  # marks the prior samples
    rows, _, _ = attack._pool_embeddings(400, torch.zeros(k))
    searched = rows[:, 0] != 7.0
    assert 100 < int(searched.sum()) < 300 and (rows[~searched] == 7.0).all()  # prior samples untouched
    aimed = [int((theta[:, :look] == row[:look]).all(1).nonzero()) for row in rows[searched]]
    assert torch.equal(rows[searched, look:] == theta[aimed, look:], torch.full((int(searched.sum()), km), free == 0))
