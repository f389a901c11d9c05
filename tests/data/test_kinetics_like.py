"""Benchmark v2 (kind: kinetics): determinism, class definitions, the val split, and v1 kept bit for bit."""

import hashlib

import pytest
import torch

from vidsteal.data.embedded import benchmark_factors, make_split, motion_classes
from vidsteal.data.kinetics_like import LOOK_SHAPES, MOTIONS, PAIRS, SCENES, TEXTURES, clip_motions, render_looks
from vidsteal.data.synthetic import BenchmarkConfig

STILL = BenchmarkConfig(frames=5, noise=0.0, drift=0.0)  # odd frames: the middle frame is the motions' origin


def _render(look: int, motion: str, n: int = 6, seed: int = 0) -> torch.Tensor:
    looks, motions = torch.full((n,), look), torch.full((n,), MOTIONS.index(motion))
    return render_looks(looks, motions, STILL, torch.Generator().manual_seed(seed))


def test_v2_is_the_default_with_20_classes_mostly_appearance():
    cfg = BenchmarkConfig()
    assert cfg.kind == "kinetics" and len(cfg.classes()) == 20
    assert motion_classes(cfg).tolist() == [False] * 14 + [True] * 6
    assert len(set(cfg.classes())) == 20


def test_v2_split_is_deterministic_by_seed():
    cfg = BenchmarkConfig(frames=4, size=16)
    a, b, c = (make_split(cfg, "train", 40, seed=s) for s in (3, 3, 4))
    assert torch.equal(a.clips, b.clips) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.clips, c.clips)
    assert a.clips.shape == (40, 4, 3, 16, 16) and torch.bincount(a.labels).tolist() == [2] * 20


def test_appearance_classes_draw_any_motion_motion_classes_keep_theirs():
    g = torch.Generator().manual_seed(0)
    drawn = clip_motions(torch.zeros(900, dtype=torch.long), g)
    assert set(drawn.tolist()) == set(range(len(MOTIONS)))  # every motion, all under one label
    fixed = torch.tensor([MOTIONS.index("left"), MOTIONS.index("cw")] * 10)
    assert torch.equal(clip_motions(fixed, g), fixed)


def test_an_appearance_class_is_invariant_to_motion():
    """One look, same per-clip draws, every motion: the middle frame (the motions' origin) is identical, so the
    motion changes nothing but how the clip moves; and the class of the look is the same whatever the motion."""
    middle = [_render(look=5, motion=m)[:, 2] for m in MOTIONS]
    assert all(torch.equal(middle[0], other) for other in middle[1:])
    assert not torch.equal(_render(5, "right")[:, 0], _render(5, "left")[:, 0])  # but the clips do move
    factors = benchmark_factors(BenchmarkConfig())
    appearance = factors["motion"] == 0
    assert factors["appearance"][appearance].unique().numel() == int(appearance.sum())  # one class per look


def test_factors_split_each_look_into_the_parts_its_name_gives():
    """shape / texture / scene factors name the parts of each class's look (what a student's look errors trace to)."""
    cfg = BenchmarkConfig()
    factors = benchmark_factors(cfg)
    for c, name in enumerate(cfg.classes()):
        shape, texture, scene = name.split("_")[:3]
        assert (LOOK_SHAPES[factors["shape"][c]], TEXTURES[factors["texture"][c]], SCENES[factors["scene"][c]]) == (
            shape, texture, scene)
    same_look = factors["appearance"].view(-1, 1) == factors["appearance"].view(1, -1)
    same_parts = torch.stack([factors[k].view(-1, 1) == factors[k].view(1, -1) for k in ("shape", "texture", "scene")])
    assert torch.equal(same_look, same_parts.all(0))  # a look is exactly its three parts


@pytest.mark.parametrize("pair", list(PAIRS))
def test_a_motion_pair_differs_only_in_the_arrow_of_time(pair):
    """Same per-clip draws: one member's clip played backwards is exactly the other's, so both members show the
    same set of frames (a per-frame model cannot separate them) and share one look."""
    cfg = BenchmarkConfig()
    names, factors = cfg.classes(), benchmark_factors(cfg)
    first, second = (names.index(n) for n in names if n.endswith("_" + PAIRS[pair][0]) or n.endswith(
        "_" + PAIRS[pair][1]))
    assert factors["appearance"][first] == factors["appearance"][second]
    assert factors["motion"][first] != factors["motion"][second]
    look = int(factors["appearance"][first])
    forward, backward = _render(look, PAIRS[pair][0]), _render(look, PAIRS[pair][1])
    assert torch.equal(forward, backward.flip(1))
    assert not torch.equal(forward, backward)


def test_val_split_is_disjoint_from_train_and_test():
    cfg = BenchmarkConfig(frames=4, size=16)
    digests = {}
    for split in ("train", "val", "test"):
        data = make_split(cfg, split, 60, seed=0)
        digests[split] = {hashlib.sha256(clip.numpy().tobytes()).digest() for clip in data.clips}
        assert len(digests[split]) == 60
    assert not digests["val"] & digests["train"] and not digests["val"] & digests["test"]
    assert not digests["train"] & digests["test"]


def test_v1_clips_are_unchanged():
    """Hashes computed before v2 existed (commit eb2419d): v1 renders bit for bit as before."""
    def digest(data):
        return hashlib.sha256(data.clips.numpy().tobytes() + data.labels.numpy().tobytes()).hexdigest()[:16]

    v1 = BenchmarkConfig(kind="motion")
    assert digest(make_split(v1, "train", 64, 0)) == "0474f81c288aab68"
    assert digest(make_split(v1, "test", 64, 3)) == "55f12ccd7ada8525"
    tiny = BenchmarkConfig(kind="motion", shapes=("square", "triangle"), motions=("right", "left", "cw"), frames=4,
                           size=16)
    assert digest(make_split(tiny, "train", 40, 3)) == "2f7e4a47746abcac"
    assert list(benchmark_factors(v1)) == ["shape", "motion"] and motion_classes(v1).all()


def test_configs_and_cards_from_before_v2_read_as_v1():
    old_card = BenchmarkConfig(kind="motion").to_dict()
    del old_card["kind"], old_card["appearance_classes"], old_card["motion_pairs"]
    assert BenchmarkConfig.model_validate(old_card).kind == "motion"
    assert BenchmarkConfig.model_validate({"shapes": ["square"]}).kind == "motion"
    assert BenchmarkConfig.model_validate({"frames": 4}).kind == "kinetics"
    assert BenchmarkConfig.model_validate(BenchmarkConfig().to_dict()) == BenchmarkConfig()


def test_bad_v2_settings_are_clear_errors():
    with pytest.raises(ValueError, match="motion_pairs"):
        BenchmarkConfig(motion_pairs=("spin", "spin")).classes()
    with pytest.raises(ValueError, match="appearance_classes"):
        BenchmarkConfig(appearance_classes=18).classes()


def test_unknown_split_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        make_split(BenchmarkConfig(frames=4, size=16), "valid", 4)


def test_a_per_frame_model_gives_both_members_of_a_pair_the_same_scores():
    """Any frame-averaging model (the per-frame students) scores a clip and its time reversal alike, so on the
    motion pairs it can do no better than guess within the pair."""
    from vidsteal.data.clips import to_model_input
    from vidsteal.models import create_model

    torch.manual_seed(0)
    model = create_model("frame_cnn", num_classes=20).eval()
    with torch.no_grad():
        right = model(to_model_input(_render(19, "right")))
        left = model(to_model_input(_render(19, "left")))
    assert torch.allclose(right, left, atol=1e-5)


def test_per_frame_ceiling_counts_the_classes_that_share_a_look():
    from vidsteal.data.embedded import per_frame_ceiling

    assert per_frame_ceiling(BenchmarkConfig()) == pytest.approx((14 + 6 / 2) / 20)
    assert per_frame_ceiling(BenchmarkConfig(kind="motion")) == pytest.approx(1 / 5)


def test_scene_contrast_sets_how_far_apart_a_scenes_two_colours_are():
    def spread(contrast):  # per clip, how much the first frame's pixels vary: mostly the scene (tiny objects)
        cfg = BenchmarkConfig(frames=2, size=16, noise=0.0, scene_contrast=contrast, object_size=(0.05, 0.05))
        clips = make_split(cfg, "val", 60).clips[:, 0].float()
        return clips.flatten(2).std(2).mean().item()  # over pixels, per channel

    assert spread((0.4, 0.5)) > 1.3 * spread((0.05, 0.1))
    with pytest.raises(ValueError, match="scene_contrast"):
        BenchmarkConfig(scene_contrast=(0.3, 0.6))
