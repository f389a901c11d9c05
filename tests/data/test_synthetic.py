import torch

from vidsteal.data.embedded import ClipDataset, make_auxiliary, make_split
from vidsteal.data.subsets import labeled_subset
from vidsteal.data.synthetic import BenchmarkConfig


def test_split_is_deterministic_by_seed(tiny_bench):
    a = make_split(tiny_bench, "train", 40, seed=3)
    b = make_split(tiny_bench, "train", 40, seed=3)
    c = make_split(tiny_bench, "train", 40, seed=4)
    assert torch.equal(a.clips, b.clips) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.clips, c.clips)


def test_train_and_test_splits_differ(tiny_bench):
    train = make_split(tiny_bench, "train", 30, seed=0)
    test = make_split(tiny_bench, "test", 30, seed=0)
    assert not torch.equal(train.clips, test.clips)


def test_shapes_dtype_and_balance(tiny_bench):
    ds = make_split(tiny_bench, "train", 60)
    assert ds.clips.shape == (60, 4, 3, 16, 16) and ds.clips.dtype == torch.uint8
    assert ds.classes == ["square_right", "square_left", "square_cw", "triangle_right", "triangle_left", "triangle_cw"]
    assert torch.bincount(ds.labels).tolist() == [10] * 6
    clip, label = ds[0]
    assert clip.shape == (4, 3, 16, 16) and isinstance(label, int)


def test_motion_is_visible_across_frames():
    cfg = BenchmarkConfig(shapes=("square",), motions=("right", "left"), frames=8, size=32, noise=0.0, drift=0.0)
    ds = make_split(cfg, "train", 20)
    # Horizontal centre of mass of the change between first and last frame moves with the class direction.
    for clip, label in zip(ds.clips.float(), ds.labels):
        diff_first = (clip[0] - clip[1]).abs().sum(dim=(0, 1))
        diff_last = (clip[-1] - clip[-2]).abs().sum(dim=(0, 1))
        xs = torch.arange(32.0)
        shift = (diff_last * xs).sum() / diff_last.sum() - (diff_first * xs).sum() / diff_first.sum()
        assert (shift > 0) == (label == 0), "right-moving clips move right, left-moving ones left"


def test_auxiliary_is_unlabeled_and_deterministic(tiny_bench):
    a, b = make_auxiliary(tiny_bench, 25, seed=1), make_auxiliary(tiny_bench, 25, seed=1)
    assert torch.equal(a.clips, b.clips)
    assert (a.labels == -1).all() and a.clips.shape == (25, 4, 3, 16, 16)


def test_labeled_subset_is_stratified_and_reproducible(tiny_bench):
    ds = make_split(tiny_bench, "train", 120)
    sub = labeled_subset(ds, 0.05, seed=2)
    assert torch.bincount(sub.labels, minlength=6).tolist() == [1] * 6
    again = labeled_subset(ds, 0.05, seed=2)
    assert torch.equal(sub.clips, again.clips)
    assert len(labeled_subset(ds, 0.5, seed=0)) == 60


def test_dataset_safetensors_roundtrip(tiny_bench, tmp_path):
    ds = make_split(tiny_bench, "test", 12)
    ds.save(tmp_path / "d.safetensors")
    back = ClipDataset.load(tmp_path / "d.safetensors")
    assert torch.equal(back.clips, ds.clips) and back.classes == ds.classes
    assert back.factors is not None and all(torch.equal(back.factors[k], ds.factors[k]) for k in ds.factors)


def test_factors_name_each_class_shape_and_motion(tiny_bench):
    ds = make_split(tiny_bench, "test", 8)
    for c, name in enumerate(ds.classes):
        shape, motion = int(ds.factors["shape"][c]), int(ds.factors["motion"][c])
        assert name == f"{tiny_bench.shapes[shape]}_{tiny_bench.motions[motion]}"
    assert ds.subset(torch.arange(3)).factors is ds.factors


def test_unknown_shape_is_a_clear_error():
    import pytest

    with pytest.raises(ValueError, match="unknown shape"):
        BenchmarkConfig(shapes=("hexagon",)).classes()


def test_object_size_sets_how_much_of_the_frame_the_object_covers():
    """Same seeds, no pixel noise or drift: pixels far from the corner's colour are mostly the object (objects
    contrast by >= 0.35 with the background; the gradient and the distractor blob add less than that)."""
    def covered(size: tuple[float, float]) -> float:
        bench = BenchmarkConfig(shapes=("square",), motions=("right",), frames=2, size=32, noise=0.0, drift=0.0,
                                object_size=size)
        first = make_split(bench, "train", 50, seed=1).clips[:, 0].float()
        corner = first[:, :, :1, :1]
        return (first - corner).abs().amax(dim=1).gt(60).float().mean().item()

    assert covered((0.25, 0.3)) > 1.5 * covered((0.1, 0.12))


def test_object_size_is_validated():
    import pytest

    with pytest.raises(ValueError, match="object_size"):
        BenchmarkConfig(object_size=(0.3, 0.2))
