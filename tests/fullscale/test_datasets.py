"""Kinetics / Moments in Time / UCF101 parsers on tiny trees in the official layouts, each with a corrupt file."""

from __future__ import annotations

import warnings

import pytest
import torch

from vidsteal.data.folder import SkippedVideoWarning
from vidsteal.data.fullscale import MomentsInTime, UCF101, create_dataset, kinetics
from vidsteal.data.subsets import labeled_subset as labeled_fraction
from vidsteal.data.transforms import ClipTransform

SMALL = ClipTransform(num_frames=4, resize=32, crop=32)
HEADER = "label,youtube_id,time_start,time_end,split\n"


def _row(label, vid, split):
    return f"{label},{vid},{10},{20},{split}\n"


@pytest.fixture
def kinetics_tree(tmp_path, place):
    """train: 3 classes x 2 videos (flat folder), one row missing on disk, one file corrupt; val: label folders."""
    root = tmp_path / "k400"
    (root / "annotations").mkdir(parents=True)
    train_rows, val_rows = [], []
    for c, label in enumerate(["abseiling", "air drumming", "zumba"]):
        for k in range(2):
            vid = f"id{c}{k}"
            train_rows.append(_row(label, vid, "train"))
            place(root / "train" / f"{vid}_000010_000020.mp4", corrupt=(c, k) == (2, 1))
    train_rows.append(_row("zumba", "gone", "train"))  # deleted from YouTube: listed, never downloaded
    val_rows.append(_row("air drumming", "v0", "val"))
    place(root / "val" / "air_drumming" / "v0_000010_000020.mp4")  # by-label layout, spaces as underscores
    (root / "annotations" / "train.csv").write_text(HEADER + "".join(train_rows))
    (root / "annotations" / "validate.csv").write_text(HEADER + "".join(val_rows))
    return root


def test_kinetics_counts_missing_and_corrupt_and_warns_on_class_count(kinetics_tree):
    with pytest.warns(UserWarning) as record:
        train = kinetics(kinetics_tree, 400, "train", transform=SMALL)
    messages = [str(w.message) for w in record]
    assert any("3 classes, Kinetics-400 has 400" in m for m in messages)
    assert any("1 of 7 videos" in m for m in messages)  # missing, one summary warning
    assert train.classes == ["abseiling", "air drumming", "zumba"]
    assert len(train.missing) == 1 and len(train.skipped) == 1 and len(train) == 5
    assert sorted(train.video_labels.tolist()) == [0, 0, 1, 1, 2]
    clip, label = train[0]
    assert clip.shape == (4, 3, 32, 32) and clip.dtype == torch.uint8 and label == 0


def test_kinetics_val_uses_training_class_order_and_aliases(kinetics_tree):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        val = create_dataset("kinetics400", root=kinetics_tree, split="val", transform=SMALL)
    assert len(val.classes) == 3 and val.video_labels.tolist() == [1]


def test_kinetics_unlabeled_test_csv_and_missing_files(kinetics_tree, place):
    (kinetics_tree / "annotations" / "test.csv").write_text("youtube_id,time_start,time_end,split\nt0,10,20,test\n")
    place(kinetics_tree / "test" / "t0_000010_000020.mp4")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = kinetics(kinetics_tree, 700, "test", transform=SMALL)
    assert test.video_labels.tolist() == [-1]
    with pytest.raises(FileNotFoundError, match="annotation CSV"):
        kinetics(kinetics_tree.parent, 600, "train")
    with pytest.raises(ValueError, match="400, 600 or 700"):
        kinetics(kinetics_tree, 500)


def test_moments_in_time_unlabeled_by_default_and_categories_when_asked(tmp_path, place):
    root = tmp_path / "Moments_in_Time_Raw"
    for category in ("running", "baking", "clapping"):
        place(root / "training" / category / f"{category}_1.mp4")
    place(root / "training" / "baking" / "broken.mp4", corrupt=True)
    (root / "moments_categories.txt").write_text("running,0\nclapping,1\nbaking,2\n")
    with pytest.warns(SkippedVideoWarning, match="broken.mp4"):
        aux = MomentsInTime(root, "train", transform=SMALL)
    assert len(aux) == 3 and aux.classes == [] and set(aux.video_labels.tolist()) == {-1}
    assert aux[0][0].shape == (4, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labeled = create_dataset("moments_in_time", root=root, labeled=True, transform=SMALL)
    assert labeled.classes == ["running", "clapping", "baking"]
    by_name = {p.split("/")[-2]: label for p, label in zip(labeled.paths, labeled.video_labels.tolist())}
    assert by_name == {"running": 0, "clapping": 1, "baking": 2}


@pytest.fixture
def ucf_tree(tmp_path, place):
    root, splits = tmp_path / "UCF-101", tmp_path / "ucfTrainTestlist"
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 HandstandPushups\n")
    train, test = [], []
    for name, idx in (("ApplyEyeMakeup", 1), ("HandstandPushups", 2)):
        for g in (1, 2):
            # The release spells some files differently from its lists (HandStandPushups): resolve ignoring case.
            listed = f"{name}/v_{name.replace('Handstand', 'HandStand')}_g0{g}_c01.avi"
            place(root / name / f"v_{name}_g0{g}_c01.avi", corrupt=(name, g) == ("ApplyEyeMakeup", 2))
            train.append(f"{listed} {idx}")
        test.append(f"{name}/v_{name}_g03_c01.avi")  # listed, absent
    place(root / "HandstandPushups" / "v_HandstandPushups_g03_c01.avi")
    (splits / "trainlist01.txt").write_text("\n".join(train) + "\n")
    (splits / "testlist01.txt").write_text("\n".join(test) + "\n")
    return root


def test_ucf101_official_splits(ucf_tree):
    with pytest.warns(SkippedVideoWarning, match="ApplyEyeMakeup_g02"):
        train = UCF101(ucf_tree, fold=1, train=True, transform=SMALL)
    assert train.classes == ["ApplyEyeMakeup", "HandstandPushups"]
    assert len(train) == 3 and len(train.skipped) == 1 and train.missing == []
    assert sorted(train.video_labels.tolist()) == [0, 1, 1]
    with pytest.warns(SkippedVideoWarning, match="1 of 2 videos"):
        test = UCF101(ucf_tree, fold=1, train=False, transform=SMALL)
    assert test.video_labels.tolist() == [1] and len(test.missing) == 1
    assert test[0][0].shape == (4, 3, 32, 32)


def test_ucf101_rejects_inconsistent_lists(ucf_tree):
    lists = ucf_tree.parent / "ucfTrainTestlist"
    (lists / "trainlist02.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 2\n")
    with pytest.raises(ValueError, match="disagrees with classInd"):
        UCF101(ucf_tree, fold=2)
    with pytest.raises(ValueError, match="folds 1, 2 and 3"):
        UCF101(ucf_tree, fold=4)


def test_labeled_fraction_is_stratified_by_video_and_reproducible(kinetics_tree, place):
    for c in range(3):
        for k in range(2, 10):
            place(kinetics_tree / "train" / f"id{c}{k}_000010_000020.mp4")
    rows = "".join(_row(label, f"id{c}{k}", "train") for c, label in enumerate(["a", "b", "c"]) for k in range(10))
    (kinetics_tree / "annotations" / "train.csv").write_text(HEADER + rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = kinetics(kinetics_tree, 400, transform=SMALL, clips_per_video=2, scan=False)
    subset = labeled_fraction(data, 0.2, seed=3)
    videos = sorted({i // 2 for i in subset.indices})
    assert len(subset) == 2 * len(videos) and len(videos) == 6
    assert torch.bincount(data.video_labels[videos], minlength=3).tolist() == [2, 2, 2]
    assert labeled_fraction(data, 0.2, seed=3).indices == subset.indices
    assert labeled_fraction(data, 0.2, seed=4).indices != subset.indices
