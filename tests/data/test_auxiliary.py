"""The embedded auxiliary set: objects of no class in the victim's world (v2 default) or the abstract family."""

import hashlib

import pytest
import torch

from vidsteal.data.embedded import make_auxiliary, make_split
from vidsteal.data.kinetics_like import LOOK_SHAPES, OTHER_SHAPES, render_parts
from vidsteal.data.sprites import sdf
from vidsteal.data.synthetic import BenchmarkConfig

V2 = BenchmarkConfig(frames=4, size=16)
V1 = BenchmarkConfig(kind="motion", shapes=("square",), motions=("right", "left"), frames=4, size=16)


def _digest(clips: torch.Tensor) -> str:
    return hashlib.sha256(clips.numpy().tobytes()).hexdigest()[:16]


def test_v2_default_is_objects_of_no_class_and_deterministic():
    a, b = make_auxiliary(V2, 12, seed=1), make_auxiliary(V2, 12, seed=1)
    assert a.classes == list(OTHER_SHAPES) and not set(OTHER_SHAPES) & set(LOOK_SHAPES)
    assert torch.equal(a.clips, b.clips) and (a.labels == -1).all() and a.clips.shape == (12, 4, 3, 16, 16)
    assert not torch.equal(a.clips, make_auxiliary(V2, 12, seed=2).clips)
    assert not torch.equal(a.clips, make_split(V2, "train", 12, 1).clips)


def test_abstract_family_is_the_set_earlier_figures_used_bit_for_bit():
    # Digest of make_auxiliary(..., 10, seed=1) before the objects family existed (the same on v1 and v2).
    before = "0069d65820f509b8"
    assert _digest(make_auxiliary(V2, 10, seed=1, family="abstract").clips) == before
    assert _digest(make_auxiliary(V1, 10, seed=1).clips) == before  # auto stays abstract on v1


@pytest.mark.parametrize("shape", OTHER_SHAPES)
def test_aux_shapes_are_solid_objects(shape):
    centre, corner = torch.zeros(1), torch.full((1,), 1.5)
    assert sdf(shape, centre, centre).item() < 0 < sdf(shape, corner, corner).item()


def test_only_the_object_changes_with_its_shape():
    # Same draws, different shape: the scene stays, pixels change only where the object is drawn.
    cfg, n = BenchmarkConfig(frames=2, size=32, noise=0.0), 6
    texture, scene, motion = torch.zeros(n, dtype=torch.long), torch.arange(n) % 4, torch.zeros(n, dtype=torch.long)
    disk = render_parts(["disk"] * n, texture, scene, motion, cfg, torch.Generator().manual_seed(0)).float()
    square = render_parts(["square"] * n, texture, scene, motion, cfg, torch.Generator().manual_seed(0)).float()
    changed = (disk - square).abs().amax(dim=2) > 8  # (n, T, H, W)
    share = changed.float().mean(dim=(2, 3))
    assert (share > 0.005).all() and (share < 0.2).all()


def test_unknown_family_is_a_clear_error():
    with pytest.raises(ValueError, match="aux family"):
        make_auxiliary(V2, 2, family="gratings")
