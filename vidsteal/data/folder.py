"""Video datasets on disk: class-per-folder trees, Kinetics annotation CSVs and unlabeled folders.

Each sample is ``(uint8 clip (T, C, H, W), int label)``; one video yields ``clips_per_video`` samples, and
``video_idx`` maps samples back to videos for video-level accuracy. Unreadable files never stop an epoch:
``scan()`` (run at construction by default) probes every file in the parent process, drops the bad ones and
records them in ``skipped``; a file that still fails later makes ``__getitem__`` return None, which
:func:`collate_skip` drops. Such late failures are recorded in ``skipped`` only when loading in the main
process: a DataLoader worker holds its own copy of the dataset and can only warn.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from vidsteal.data.decode import VIDEO_EXTENSIONS, VideoDecodeError, decode_file, probe
from vidsteal.data.subsets import make_labeled_subset  # noqa: F401  (re-exported for folder datasets)
from vidsteal.data.transforms import ClipTransform

KINETICS_FILENAME = "{youtube_id}_{time_start:06d}_{time_end:06d}.mp4"


class SkippedVideoWarning(UserWarning):
    """A video file that is missing or cannot be decoded and is left out of the dataset."""


class VideoFileDataset(Dataset):
    """Clips from a fixed list of videos ``(path, label, start, end)``; the base of the folder datasets below.

    Args:
        videos: one entry per video; ``start``/``end`` (seconds, or None) select a time window.
        classes: class names, index = label.
        transform: temporal sampling and spatial transform; ``ClipTransform()`` defaults if None.
        clips_per_video: samples drawn from each video (evenly spaced segments of it).
        scan: probe every file now and drop unreadable ones (recommended before multi-worker loading).
    """

    def __init__(self, videos: Sequence[tuple[str, int, float | None, float | None]], classes: Sequence[str] = (),
                 transform: ClipTransform | None = None, clips_per_video: int = 1, scan: bool = True) -> None:
        if clips_per_video < 1:
            raise ValueError(f"clips_per_video must be >= 1, got {clips_per_video}")
        self.classes = list(classes)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.transform = transform or ClipTransform()
        self.clips_per_video = clips_per_video
        self.skipped: list[tuple[str, str]] = []
        self.missing: list[str] = []
        self._bad: set[str] = set()
        self._set_videos(videos)
        if scan:
            self.scan()

    def _set_videos(self, videos: Sequence[tuple[str, int, float | None, float | None]]) -> None:
        # numpy arrays instead of lists of Python objects: workers then share them without copy-on-read growth.
        self._paths = np.array([v[0] for v in videos], dtype=np.str_)
        self._labels = np.array([v[1] for v in videos], dtype=np.int64)
        self._starts = np.array([np.nan if v[2] is None else v[2] for v in videos], dtype=np.float64)
        self._ends = np.array([np.nan if v[3] is None else v[3] for v in videos], dtype=np.float64)

    def scan(self) -> list[tuple[str, str]]:
        """Probe every file (header + first frame), drop the unreadable ones and return them as (path, reason)."""
        keep, bad = np.ones(len(self._paths), dtype=bool), []
        for i, path in enumerate(self._paths.tolist()):
            try:
                probe(path)
            except VideoDecodeError as err:
                keep[i] = False
                bad.append((path, err.cause))
                self._skip(path, err.cause)
        if bad:
            self._paths, self._labels = self._paths[keep], self._labels[keep]
            self._starts, self._ends = self._starts[keep], self._ends[keep]
        return bad

    def _skip(self, path: str, reason: str) -> None:
        if path not in self._bad:
            self._bad.add(path)
            self.skipped.append((path, reason))
            warnings.warn(f"skipping unreadable video {path}: {reason}", SkippedVideoWarning, stacklevel=3)

    def __len__(self) -> int:
        return len(self._paths) * self.clips_per_video

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | None:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        video, clip_index = divmod(index % len(self), self.clips_per_video)
        path = str(self._paths[video])
        if path in self._bad:
            return None
        start, end = (None if np.isnan(t) else float(t) for t in (self._starts[video], self._ends[video]))
        select = lambda n: self.transform.indices(n, clip_index, self.clips_per_video)  # noqa: E731
        try:
            frames = decode_file(path, start, end, select=select)
        except VideoDecodeError as err:
            self._skip(path, err.cause)
            return None
        return self.transform.spatial(frames), int(self._labels[video])

    def relabel(self, index: Sequence[int], classes: Sequence[str]) -> None:
        """Re-index labels into another class list (``index[old label]`` = new label), e.g. a victim's classes."""
        table = np.asarray(index, dtype=np.int64)
        self._labels = np.where(self._labels >= 0, table[np.clip(self._labels, 0, None)], self._labels)
        self.classes = list(classes)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}

    @property
    def num_videos(self) -> int:
        return len(self._paths)

    @property
    def paths(self) -> list[str]:
        return self._paths.tolist()

    @property
    def video_labels(self) -> torch.Tensor:
        """Label of each video (-1 when unlabeled)."""
        return torch.from_numpy(self._labels.copy())

    @property
    def labels(self) -> torch.Tensor:
        """Label of each sample."""
        return self.video_labels.repeat_interleave(self.clips_per_video)

    @property
    def video_idx(self) -> torch.Tensor:
        """Video index of each sample, for aggregating clip predictions into video predictions."""
        return torch.arange(len(self)) // self.clips_per_video

    def clips_of(self, videos: Iterable[int]) -> list[int]:
        """Sample indices of all clips of the given videos (e.g. a labeled subset chosen per video)."""
        return [v * self.clips_per_video + k for v in videos for k in range(self.clips_per_video)]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(videos={self.num_videos}, clips_per_video={self.clips_per_video}, "
                f"classes={len(self.classes)}, skipped={len(self.skipped)}, missing={len(self.missing)})")


class VideoFolder(VideoFileDataset):
    """``root/<class>/**/<video>``: class names sorted give the label indices."""

    def __init__(self, root: str | Path, transform: ClipTransform | None = None, clips_per_video: int = 1,
                 extensions: Sequence[str] = VIDEO_EXTENSIONS, scan: bool = True) -> None:
        root = _existing_dir(root)
        classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir() and not entry.name.startswith("."))
        if not classes:
            raise FileNotFoundError(f"no class folders in {root}")
        videos = [(path, label, None, None) for label, name in enumerate(classes)
                  for path in list_files(root / name, extensions)]
        super().__init__(videos, classes, transform, clips_per_video, scan)
        self.root = root


class UnlabeledVideoFolder(VideoFileDataset):
    """Every video under ``root`` (any nesting), label -1: an irrelevant unlabeled set such as Moments in Time."""

    def __init__(self, root: str | Path, transform: ClipTransform | None = None, clips_per_video: int = 1,
                 extensions: Sequence[str] = VIDEO_EXTENSIONS, scan: bool = True) -> None:
        root = _existing_dir(root)
        videos = [(path, -1, None, None) for path in list_files(root, extensions)]
        if not videos:
            raise FileNotFoundError(f"no files with extensions {tuple(extensions)} under {root}")
        super().__init__(videos, (), transform, clips_per_video, scan)
        self.root = root


class KineticsCSV(VideoFileDataset):
    """Videos listed in a Kinetics annotation CSV (label, youtube_id, time_start, time_end, split).

    Files live in ``root/<split>/<label>/<filename>`` (``by_label``) or ``root/<split>/<filename>`` (``flat``);
    ``auto`` tries both, and label folders with spaces replaced by underscores. Rows whose file is absent are
    counted in ``missing`` (one summary warning), as deleted YouTube videos are common.

    Args:
        root: dataset root.
        csv_path: the annotation CSV; without a ``label`` column labels are -1, without ``split`` no split folder.
        split: keep only rows of this split (e.g. "train", "val").
        transform: clip transform.
        clips_per_video: samples per video.
        layout: ``by_label``, ``flat`` or ``auto``.
        filename: file name template over the CSV columns; times are whole seconds.
        split_dir: folder under root to use instead of the row's split value ("" for none).
        seek_window: decode only ``[time_start, time_end)`` (for untrimmed downloads); trimmed files play whole.
        classes: class names to index labels by (pass the training set's to keep indices aligned); default:
            the sorted labels of the whole CSV.
        scan: probe files at construction.
    """

    def __init__(self, root: str | Path, csv_path: str | Path, split: str | None = None,
                 transform: ClipTransform | None = None, clips_per_video: int = 1,
                 layout: Literal["auto", "by_label", "flat"] = "auto", filename: str = KINETICS_FILENAME,
                 split_dir: str | None = None, seek_window: bool = False, classes: Sequence[str] | None = None,
                 scan: bool = True) -> None:
        root = _existing_dir(root)
        if layout not in ("auto", "by_label", "flat"):
            raise ValueError(f"layout must be 'auto', 'by_label' or 'flat', got {layout!r}")
        rows = _read_csv(csv_path, split)
        labeled = bool(rows) and "label" in rows[0]
        if classes is None:
            classes = sorted({row["label"] for row in _read_csv(csv_path, None)}) if labeled else []
        class_to_idx = {name: i for i, name in enumerate(classes)}
        listing = _DirCache()
        videos, missing = [], []
        for line, row in enumerate(rows, start=2):
            t0, t1 = float(row["time_start"]), float(row["time_end"])
            try:
                name = filename.format(**{**row, "time_start": int(t0), "time_end": int(t1)})
            except (KeyError, ValueError) as err:
                raise ValueError(f"filename template {filename!r} does not fit {csv_path}:{line}: {err!r}") from None
            folder = root / (row.get("split", "") if split_dir is None else split_dir)
            candidates = _candidates(folder, name, row.get("label"), layout)
            path = next((c for c in candidates if listing.has(c)), None)
            if path is None:
                missing.append(str(candidates[0]))
                continue
            if labeled and row["label"] not in class_to_idx:
                raise ValueError(f"{csv_path}:{line}: label {row['label']!r} is not among the {len(classes)} classes")
            label = class_to_idx[row["label"]] if labeled else -1
            videos.append((str(path), label, t0 if seek_window else None, t1 if seek_window else None))
        super().__init__(videos, classes, transform, clips_per_video, scan)
        self.root, self.missing = root, missing
        if missing:
            warnings.warn(f"{len(missing)} of {len(rows)} videos listed in {csv_path} are missing under {root} "
                          f"(first: {missing[0]})", SkippedVideoWarning, stacklevel=2)


def list_files(root: str | Path, extensions: Sequence[str] = VIDEO_EXTENSIONS) -> list[str]:
    """Files under ``root`` with one of ``extensions`` (any case), sorted; hidden files and folders excluded."""
    suffixes = tuple(e.lower() for e in extensions)
    found = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(folder, f) for f in sorted(files) if f.lower().endswith(suffixes) and f[0] != "."]
    return found


def collate_skip(batch: list[tuple[torch.Tensor, int] | None]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Collate ``(clip, label)`` samples into ``(B, T, C, H, W)`` uint8 + labels, dropping None (unreadable files).

    Returns None when every sample of the batch was dropped; training loops skip such batches.
    """
    kept = [sample for sample in batch if sample is not None]
    return default_collate(kept) if kept else None


def _existing_dir(root: str | Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} is not a directory")
    return root


def _read_csv(csv_path: str | Path, split: str | None) -> list[dict[str, str]]:
    with open(csv_path, newline="") as handle:
        reader = csv.DictReader(handle)
        needed = {"youtube_id", "time_start", "time_end"} | ({"split"} if split is not None else set())
        absent = needed - set(reader.fieldnames or ())
        if absent:
            raise ValueError(f"{csv_path} lacks the columns {sorted(absent)} (has {reader.fieldnames})")
        return [row for row in reader if split is None or row["split"] == split]


def _candidates(folder: Path, name: str, label: str | None, layout: str) -> list[Path]:
    by_label = [] if label is None else [folder / label / name, folder / label.replace(" ", "_") / name]
    paths = {"by_label": by_label, "flat": [folder / name], "auto": by_label + [folder / name]}[layout]
    return list(dict.fromkeys(paths)) or [folder / name]


class _DirCache:
    """Existence checks by listing each folder once: far fewer syscalls than one stat per CSV row."""

    def __init__(self) -> None:
        self._listings: dict[Path, set[str]] = {}

    def has(self, path: Path) -> bool:
        if path.parent not in self._listings:
            try:
                self._listings[path.parent] = set(os.listdir(path.parent))
            except OSError:
                self._listings[path.parent] = set()
        return path.name in self._listings[path.parent]
