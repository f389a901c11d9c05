"""Generator priors load offline behind one G(z, class_vector) adapter, and gradients reach the class vector."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from vidsteal.models.generators import create_generator, list_generators
from vidsteal.models.generators.biggan import TINY_BIGGAN, load_biggan_folder


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _check(gen, n: int = 2) -> torch.Tensor:
    z = gen.sample_z(n, torch.Generator().manual_seed(0))
    c = gen.one_hot(torch.arange(n)).requires_grad_(True) if gen.class_dim else None
    images = gen(z, c)
    assert images.shape == (n, 3, gen.size, gen.size)
    assert 0 <= images.min() and images.max() <= 1 and images.std() > 0.01
    if c is not None:
        images.mean().backward()
        assert c.grad is not None and c.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in gen.parameters())  # the prior is frozen
    return images


def test_registry_lists_the_priors():
    assert {"eye_dcgan", "face_dcgan", "biggan", "test_biggan", "test_dcgan", "dead_leaves", "varied_leaves",
            "mixed"} <= set(list_generators())


@pytest.mark.skipif(not _installed("omniart_eye_generator"), reason="pip install omniart-eye-generator==0.1")
def test_eye_dcgan_real_weights_on_cpu():
    gen = create_generator("eye_dcgan")
    assert (gen.z_dim, gen.class_dim, gen.size) == (100, 8, 128)
    images = _check(gen)
    gen.train()  # callers cannot switch dropout back on: the same input gives the same image
    z = gen.sample_z(1, torch.Generator().manual_seed(3))
    c = gen.one_hot(torch.tensor([2]))
    assert torch.equal(gen(z, c), gen(z, c)) and images.shape[0] == 2


@pytest.mark.skipif(not _installed("gan_face_generate"), reason="pip install --no-deps gan-face-generate==1.1.1")
def test_face_dcgan_real_weights_unconditional():
    gen = create_generator("face_dcgan")
    assert gen.class_dim == 0
    _check(gen)


@pytest.mark.skipif(not _installed("pytorch_pretrained_biggan"), reason="pip install --no-deps pytorch-pretrained-biggan")
def test_tiny_biggan_and_local_folder_roundtrip(tmp_path):
    gen = create_generator("test_biggan")
    assert (gen.class_dim, gen.size) == (TINY_BIGGAN["num_classes"], TINY_BIGGAN["output_dim"])
    images = _check(gen)
    import json

    (tmp_path / "config.json").write_text(json.dumps(TINY_BIGGAN))
    torch.save(gen.net.state_dict(), tmp_path / "pytorch_model.bin")  # the package's own weights layout
    loaded = load_biggan_folder(tmp_path).freeze()
    z = gen.sample_z(2, torch.Generator().manual_seed(0))
    c = gen.one_hot(torch.arange(2))
    assert torch.allclose(loaded(z, c), gen(z, c)) and images.shape[0] == 2


def test_biggan_never_downloads(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        create_generator("biggan", weights=str(tmp_path))


def test_dead_leaves_is_a_deterministic_differentiable_prior_with_distinct_class_styles():
    gen = create_generator("dead_leaves", size=32)
    images = _check(gen, n=4)
    z = gen.sample_z(2, torch.Generator().manual_seed(1))
    c = gen.one_hot(torch.tensor([0, 0]))
    assert torch.equal(gen(z, c), gen(z, c))  # no hidden randomness: the search can rely on it
    assert torch.equal(gen.one_hot(torch.tensor([3])), gen.one_hot(torch.tensor([3])))
    assert not torch.allclose(gen.one_hot(torch.tensor([0])), gen.one_hot(torch.tensor([1])))
    zg = z.clone().requires_grad_(True)
    gen(zg, c).mean().backward()  # leaf geometry, colour and texture all come from z
    assert zg.grad is not None and zg.grad.abs().sum() > 0
    same_z = gen(z[:1].expand(2, -1), gen.one_hot(torch.tensor([0, 1])))  # another style changes the image
    assert (same_z[0] - same_z[1]).abs().mean() > 0.02 and images.shape[-1] == 32


def test_mixed_prior_routes_each_image_to_the_part_its_selector_names():
    mixed = create_generator("mixed", priors=["test_dcgan", "dead_leaves"])
    leaves, dcgan = create_generator("dead_leaves"), create_generator("test_dcgan")
    assert mixed.size == 16 and mixed.z_dim == leaves.z_dim and mixed.class_dim == 4 + 16 + 2
    c = mixed.one_hot(torch.arange(4))  # index i -> part i % 2, class i // 2 of it
    assert c[:, -2:].argmax(1).tolist() == [0, 1, 0, 1]
    z = mixed.sample_z(4, torch.Generator().manual_seed(0))
    out = mixed(z, c)
    torch.testing.assert_close(out[0], dcgan(z[:1, : dcgan.z_dim], dcgan.one_hot(torch.tensor([0])))[0])
    leaf = torch.nn.functional.interpolate(leaves(z[1:2], leaves.one_hot(torch.tensor([0]))), size=(16, 16),
                                           mode="bilinear", antialias=True, align_corners=False)
    torch.testing.assert_close(out[1], leaf[0].clamp(0, 1), atol=1e-5, rtol=1e-5)
    _check(mixed, n=4)


def test_dead_leaves_has_the_models_statistics_sharp_occlusions_and_full_colour():
    gen = create_generator("dead_leaves", size=32)
    g = torch.Generator().manual_seed(0)
    images = gen(gen.sample_z(64, g), gen.one_hot(torch.arange(64) % 8))
    step = (images[..., 1:] - images[..., :-1]).abs().amax(1)  # largest channel change between neighbours
    assert (step < 0.02).float().mean() > 0.4  # mostly flat inside leaves ...
    assert (step > 0.3).float().mean() > 0.02  # ... with steep occlusion edges, not blur
    channel = images.permute(1, 0, 2, 3).flatten(1)
    assert (channel.quantile(0.05, dim=1) < 0.1).all() and (channel.quantile(0.95, dim=1) > 0.9).all()


def test_a_procedural_prior_renders_at_the_clip_size_and_a_gan_at_its_own():
    from vidsteal.models.generators import create_prior_for
    assert create_prior_for("dead_leaves", 24).size == 24
    assert create_prior_for("dead_leaves", 24, size=48).size == 48  # an explicit size wins
    assert create_prior_for("test_dcgan", 24).size == 16  # a GAN draws at its trained size


def test_rich_dead_leaves_add_outlines_holes_and_scene_texture_after_the_plain_latent():
    plain, rich = create_generator("dead_leaves", size=32), create_generator("dead_leaves", size=32, rich=True)
    assert (plain.z_dim, plain.class_dim) == (10 * 13 + 8, 16) and (rich.z_dim, rich.class_dim) == (10 * 23 + 13, 20)
    images = _check(rich, n=4)
    z = rich.sample_z(4, torch.Generator().manual_seed(2)).requires_grad_(True)
    c = rich.one_hot(torch.arange(4))
    out = rich(z, c)
    assert torch.equal(out, rich(z, c))
    out.mean().backward()
    extra = z.grad[:, plain.z_dim:]  # outline harmonics, holes, duty and the background texture all act
    assert (extra.abs().sum(0) > 0).float().mean() > 0.9 and images.shape[-1] == 32
    # A large white round front leaf with a big hole shows the grey leaves behind it through its middle only.
    z1 = torch.zeros(1, rich.z_dim)
    leaf = 9 * 13  # the front leaf's plain params: centre 0, size, then its rich params
    z1[0, leaf + 2] = 4.0  # large
    z1[0, leaf + 6:leaf + 9] = 3.0  # white
    z1[0, leaf + 9] = -9.0  # no texture
    rich_leaf = 10 * 13 + 8 + 9 * 10
    z1[0, rich_leaf:rich_leaf + 8] = 0.0  # a circle-like outline
    no_hole = rich(z1, torch.zeros(1, 20))
    z1[0, rich_leaf + 8] = 3.0  # hole
    hole = rich(z1, torch.zeros(1, 20))
    centre, ring = (slice(14, 18), slice(14, 18)), (slice(14, 18), slice(1, 4))
    assert (no_hole[0][:, centre[0], centre[1]] - hole[0][:, centre[0], centre[1]]).mean() > 0.3
    assert torch.allclose(hole[0][:, ring[0], ring[1]], no_hole[0][:, ring[0], ring[1]], atol=1e-3)


def _front_leaf_footprints(gen, n: int = 64, last: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Centroid (x, y in [-1, 1]) and area share of each image's front leaf: the pixels that change when only its
    colour flips (texture off); ``last`` sets the latent's last entry in every image."""
    z = gen.sample_z(n, torch.Generator().manual_seed(5))
    if last is not None:
        z[:, -1] = last
    front = (gen.leaves - 1) * 13
    z[:, front + 9] = -9.0  # no texture
    c = gen.one_hot(torch.arange(n) % 8)
    z[:, front + 6:front + 9] = 3.0
    light = gen(z, c)
    z[:, front + 6:front + 9] = -3.0
    mask = ((light - gen(z, c)).abs().amax(1) > 0.5).float()  # (n, S, S)
    coords = torch.linspace(-1, 1, gen.size)
    area = mask.sum((1, 2)).clamp(min=1)
    centre = torch.stack([(mask * coords.view(1, 1, -1)).sum((1, 2)) / area,
                          (mask * coords.view(1, -1, 1)).sum((1, 2)) / area], 1)
    return centre, mask.mean((1, 2))


def test_object_leaves_sit_whole_near_the_middle_and_are_larger_than_the_plain_front_leaves():
    plain = create_generator("dead_leaves", size=32, leaves=4)
    objects = create_generator("dead_leaves", size=32, leaves=4, objects=1)
    assert objects.z_dim == plain.z_dim and objects.class_dim == plain.class_dim  # the same latent
    _check(objects, n=4)
    (c_plain, a_plain), (c_obj, a_obj) = _front_leaf_footprints(plain), _front_leaf_footprints(objects)
    assert c_obj.abs().max() < 0.45 and c_plain.abs().max() > 0.6  # near the middle; plain ones anywhere
    assert 0.05 < a_obj.median() < 0.5 and a_obj.median() > 1.5 * a_plain.median()
    assert (a_obj > 0.02).all()  # never a speck
    with pytest.raises(ValueError, match="objects"):
        create_generator("dead_leaves", leaves=2, objects=3)


def test_a_varying_leaf_count_renders_each_image_as_the_model_with_that_many_leaves():
    gen = create_generator("dead_leaves", size=24, leaves=6, min_leaves=2)
    assert gen.z_dim == 6 * 13 + 8 + 1
    z = gen.sample_z(64, torch.Generator().manual_seed(3))
    c = gen.one_hot(torch.arange(64) % 8)
    images = gen(z, c)
    counts = (2 + (torch.special.ndtr(z[:, -1]) * 5).floor()).long()
    assert set(counts.tolist()) == {2, 3, 4, 5, 6}  # every count occurs
    for k in (2, 4, 6):
        rows = (counts == k).nonzero().flatten()
        fixed = create_generator("dead_leaves", size=24, leaves=k)
        zk = torch.cat([z[rows, :k * 13], z[rows, 6 * 13:6 * 13 + 8]], 1)  # its leaves and background
        assert torch.allclose(images[rows], fixed(zk, c[rows]), atol=1e-5)
    with pytest.raises(ValueError, match="min_leaves"):
        create_generator("dead_leaves", leaves=4, min_leaves=5)
    varied = create_generator("varied_leaves", size=24)  # the black-box default: 3 to 10 leaves per image
    assert (varied.leaves, varied.min_leaves, varied.z_dim) == (10, 3, 10 * 13 + 8 + 1)


def test_image_wide_spreads_move_the_size_and_the_texture_of_every_leaf_of_an_image_together():
    base = create_generator("dead_leaves", size=24, leaves=4, min_leaves=2)
    both = create_generator("dead_leaves", size=24, leaves=4, min_leaves=2, scale_spread=0.5, texture_spread=2.0)
    assert both.z_dim == base.z_dim + 2 and both.class_dim == base.class_dim
    z = both.sample_z(16, torch.Generator().manual_seed(7))
    c = both.one_hot(torch.arange(16) % 4)
    neutral = z.clone()
    neutral[:, -3:-1] = 0.0  # scale and texture entries at 0: the model without them (layout ... | s | t | count)
    assert torch.allclose(both(neutral, c), base(torch.cat([z[:, :-3], z[:, -1:]], 1), c), atol=1e-6)
    # the texture entry e shifts every leaf's amplitude logit by 2e: the same as adding e to each leaf's own entry
    shifted, moved = neutral.clone(), neutral.clone()
    shifted[:, -2] = 1.5
    moved[:, 9:4 * 13:13] += 1.5
    assert torch.allclose(both(shifted, c), both(moved, c), atol=1e-5)
    flat, patterned = neutral.clone(), neutral.clone()
    flat[:, -2], patterned[:, -2] = -6.0, 6.0

    def variation(images: torch.Tensor) -> float:
        return float((images[..., 1:] - images[..., :-1]).abs().mean())
    assert variation(both(patterned, c)) > 2 * variation(both(flat, c))
    # the scale entry grows every leaf of an image: a near view (front leaves ~exp(0.5 * 3) wider) or a far one
    scaled = create_generator("dead_leaves", size=32, leaves=4, scale_spread=0.5)
    assert scaled.z_dim == 4 * 13 + 8 + 1
    (_, near), (_, far) = _front_leaf_footprints(scaled, last=1.5), _front_leaf_footprints(scaled, last=-1.5)
    assert near.median() > 4 * far.median()
    with pytest.raises(ValueError, match="spreads"):
        create_generator("dead_leaves", scale_spread=-0.1)


@pytest.mark.parametrize("frames", [1, 3, 8])
def test_dfmes_clip_generator_makes_clips_of_any_length_images_included(frames):
    from vidsteal.models.generators.dfme import ClipGenerator

    torch.manual_seed(0)
    gen = ClipGenerator(z_dim=16, frames=frames, size=28, width=16)
    clips = gen(torch.randn(4, 16))
    assert clips.shape == (4, 3, frames, 28, 28) and 0 <= clips.min() and clips.max() <= 1
    clips.mean().backward()
    assert gen.stem.weight.grad is not None and gen.stem.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="multiple of 4"):
        ClipGenerator(frames=frames, size=30)


def test_dfmes_clip_generator_runs_channels_last_with_plain_outputs_and_squashes_in_float32_under_autocast():
    from vidsteal.models.generators.dfme import ClipGenerator

    torch.manual_seed(0)
    gen = ClipGenerator(z_dim=16, frames=4, size=16, width=16).eval()
    z = torch.randn(3, 16)
    with torch.no_grad():
        fast = gen(z)
        x = gen.stem(z).view(3, 16, 2, 4, 4)  # the same layers on a plain (channels-first) volume
        plain = torch.sigmoid(gen.body(x))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = gen(z)
    assert fast.is_contiguous() and torch.allclose(fast, plain, atol=1e-5)
    assert half.dtype == torch.float32 and half.is_contiguous() and (half - plain).abs().max() < 0.05


def test_dfme_configs_saved_before_the_precision_field_resume_in_float32():
    from vidsteal.attacks.blackbox.dfme import DFMEConfig

    assert DFMEConfig().precision == "auto"
    saved = DFMEConfig().model_dump(mode="json")
    saved.pop("precision")  # a run folder written before the field existed
    assert DFMEConfig.model_validate(saved).precision == "32"
    assert DFMEConfig.model_validate({"batch": 8}).precision == "auto"  # what users write keeps today's default
