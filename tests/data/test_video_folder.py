import csv
import shutil
import warnings

import pytest
import torch
from torch.utils.data import DataLoader

from vidsteal.data.decode import IMAGE_EXTENSIONS, encode_video
from vidsteal.data.folder import (KineticsCSV, SkippedVideoWarning, UnlabeledVideoFolder, VideoFolder, collate_skip,
                                  make_labeled_subset)
from vidsteal.data.transforms import ClipTransform

TF = ClipTransform(num_frames=4, stride=2, resize=16, crop=16)


@pytest.fixture(scope="session")
def tree(tmp_path_factory, media, make_clip):
    """root/{jump,run}/...: four good videos (one nested), two broken ones, and files that are not videos."""
    root = tmp_path_factory.mktemp("tree")
    (root / "run" / "sub").mkdir(parents=True)
    (root / "jump").mkdir()
    shutil.copy(media["mp4"], root / "jump" / "j0.mp4")
    shutil.copy(media["webm"], root / "jump" / "j1.webm")
    encode_video(root / "run" / "r0.mp4", make_clip(shift=5), fps=12)
    encode_video(root / "run" / "sub" / "r1.MP4", make_clip(frames=6), fps=12)
    shutil.copy(media["random"], root / "run" / "broken.mp4")
    shutil.copy(media["truncated"], root / "jump" / "truncated.mp4")
    (root / "jump" / "notes.txt").write_text("not a video")
    (root / "jump" / "._j0.mp4").write_bytes(b"macOS resource fork")
    (root / ".hidden").mkdir()
    return root


def _collect(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, SkippedVideoWarning)]


def test_video_folder_scan_skips_counts_and_warns_once_per_bad_file(tree):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = VideoFolder(tree, TF, clips_per_video=2)
    messages = _collect(caught)
    assert len(messages) == 2 and any("broken.mp4" in m for m in messages) and any("truncated" in m for m in messages)
    assert sorted(p.split("/")[-1] for p, _ in ds.skipped) == ["broken.mp4", "truncated.mp4"]
    assert all(reason for _, reason in ds.skipped)
    assert ds.classes == ["jump", "run"] and ds.num_videos == 4 and len(ds) == 8
    assert ds.video_labels.tolist() == [0, 0, 1, 1]
    assert ds.video_idx.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert ds.labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    for i in range(len(ds)):
        clip, label = ds[i]
        assert clip.shape == (4, 3, 16, 16) and clip.dtype == torch.uint8 and label == ds.labels[i]


def test_late_failures_return_none_and_collate_drops_them(tree):
    ds = VideoFolder(tree, TF, clips_per_video=2, scan=False)
    assert ds.num_videos == 6 and ds.skipped == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        samples = [ds[i] for i in range(len(ds))]
    assert len(_collect(caught)) == 2  # one warning per bad file, not per clip
    assert sum(s is None for s in samples) == 4 and len(ds.skipped) == 2
    clips, labels = collate_skip(samples)
    assert clips.shape == (8, 4, 3, 16, 16) and labels.dtype == torch.long
    assert collate_skip([None, None]) is None


def test_dataloader_with_two_workers(tree):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedVideoWarning)
        ds = VideoFolder(tree, TF.model_copy(update={"position": "random"}), clips_per_video=2, scan=False)
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_skip)
    batches = [b for b in loader if b is not None]
    labels = torch.cat([b[1] for b in batches])
    assert sum(b[0].shape[0] for b in batches) == 8  # 4 good videos x 2 clips; bad files dropped in the workers
    assert labels.bincount().tolist() == [4, 4]


def test_unlabeled_folder_takes_every_nested_video(tree):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedVideoWarning)
        ds = UnlabeledVideoFolder(tree, TF, clips_per_video=3)
    assert ds.classes == [] and ds.num_videos == 4 and len(ds) == 12
    assert set(ds.labels.tolist()) == {-1}
    assert ds[5][1] == -1 and ds.video_idx[5] == 1
    assert ds.clips_of([1]) == [3, 4, 5]


def test_image_folder_gives_single_frame_clips(tmp_path, write_png, clip):
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        write_png(tmp_path / name / "a.png", clip[0])
    ds = VideoFolder(tmp_path, ClipTransform(num_frames=1, resize=None, crop=None), extensions=IMAGE_EXTENSIONS)
    image, label = ds[1]
    assert image.shape == (1, 3, 32, 32) and label == 1


def test_missing_root_and_empty_root_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        VideoFolder(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no class folders"):
        VideoFolder(tmp_path)


def _write_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["label", "youtube_id", "time_start", "time_end", "split"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def kinetics(tmp_path_factory, media, make_clip):
    """train/ by label (one label folder with underscores), val/ flat, a long untrimmed video, one missing row."""
    root = tmp_path_factory.mktemp("k400")
    for label, yid, split, folder in [("abseiling", "aaa", "train", "train/abseiling"),
                                      ("playing drums", "bbb", "train", "train/playing_drums"),
                                      ("abseiling", "ccc", "val", "val")]:
        (root / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(media["mp4"], root / folder / f"{yid}_000010_000020.mp4")
    shutil.copy(media["random"], root / "val" / "bad_000010_000020.mp4")
    long = torch.cat([make_clip(), make_clip(shift=6)])  # 24 frames at 12 fps: the second second differs
    encode_video(root / "val" / "long_000001_000002.mp4", long, fps=12)
    rows = [dict(label="abseiling", youtube_id="aaa", time_start=10, time_end=20, split="train"),
            dict(label="playing drums", youtube_id="bbb", time_start=10, time_end=20, split="train"),
            dict(label="playing drums", youtube_id="gone", time_start=0, time_end=10, split="train"),
            dict(label="abseiling", youtube_id="ccc", time_start=10, time_end=20, split="val"),
            dict(label="playing drums", youtube_id="bad", time_start=10, time_end=20, split="val"),
            dict(label="playing drums", youtube_id="long", time_start=1, time_end=2, split="val")]
    return root, _write_csv(root / "annotations.csv", rows), long


def test_kinetics_csv_finds_files_in_both_layouts_and_counts_missing(kinetics):
    root, table, _ = kinetics
    with pytest.warns(SkippedVideoWarning, match="1 of 3 videos .* missing"):
        train = KineticsCSV(root, table, split="train", transform=TF)
    assert train.classes == ["abseiling", "playing drums"]
    assert train.num_videos == 2 and train.video_labels.tolist() == [0, 1]
    assert len(train.missing) == 1 and "gone_000000_000010.mp4" in train.missing[0]
    with pytest.warns(SkippedVideoWarning, match="bad_000010_000020.mp4"):
        val = KineticsCSV(root, table, split="val", transform=TF, classes=train.classes)
    assert val.num_videos == 2 and len(val.skipped) == 1 and val.missing == []
    assert all(val[i][0].shape == (4, 3, 16, 16) for i in range(len(val)))
    with pytest.warns(SkippedVideoWarning, match="missing"):
        flat_only = KineticsCSV(root, table, split="train", layout="flat", transform=TF)
    assert flat_only.num_videos == 0 and len(flat_only.missing) == 3


def test_kinetics_seek_window_decodes_only_the_annotated_seconds(kinetics, make_clip):
    root, table, long = kinetics
    whole = ClipTransform(num_frames=12, resize=None, crop=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedVideoWarning)
        trimmed = KineticsCSV(root, table, split="val", transform=whole)
        seek = KineticsCSV(root, table, split="val", transform=whole, seek_window=True)
    error = lambda a, b: (a.float() - b.float()).abs().mean().item()  # noqa: E731
    assert error(seek[1][0], long[12:]) < 4  # [1 s, 2 s) of a 2 s video
    assert error(trimmed[1][0], long[6:18]) < 4  # the whole file, centre 12 frames


def test_kinetics_csv_errors_name_the_problem(kinetics, tmp_path):
    root, table, _ = kinetics
    with pytest.raises(ValueError, match="not among the 1 classes"):
        KineticsCSV(root, table, split="train", classes=["abseiling"], scan=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("label,id\nx,y\n")
    with pytest.raises(ValueError, match="lacks the columns"):
        KineticsCSV(root, bad)


def test_labeled_subset_is_stratified_reproducible_and_sized():
    labels = torch.arange(10).repeat_interleave(torch.arange(10, 110, 10))  # class c has 10 * (c + 1) items
    subset = make_labeled_subset(labels, 0.05, seed=0)
    assert subset == make_labeled_subset(labels.tolist(), 0.05, seed=0)
    assert subset != make_labeled_subset(labels, 0.05, seed=1)
    assert subset == sorted(set(subset))
    counts = labels[subset].bincount(minlength=10)
    assert counts.min() >= 1  # every class, even the 10-item one where 5 % rounds to 0
    assert abs(len(subset) - 0.05 * len(labels)) <= 10
    for c in range(10):
        assert abs(counts[c].item() - 0.05 * 10 * (c + 1)) <= 1
    with_unlabeled = torch.cat([labels, torch.full((50,), -1)])
    assert all(with_unlabeled[i] >= 0 for i in make_labeled_subset(with_unlabeled, 0.5, seed=0))
    assert len(make_labeled_subset(labels, 1.0, seed=0)) == len(labels)
    with pytest.raises(ValueError, match="fraction"):
        make_labeled_subset(labels, 0.0, seed=0)
