"""The real datasets of the reference study: Kinetics-400/600/700, Moments in Time and UCF101, from local copies.

All build on :mod:`vidsteal.data.folder`: samples are ``(uint8 clip (T, C, H, W), label)``, files listed but
absent are counted in ``missing`` (one summary warning), unreadable files are probed away into ``skipped``.
Layouts are those of the official distributions; each function's docstring shows the tree it expects.
The grey-box attacker's stratified k% of one of them is :func:`vidsteal.data.subsets.labeled_subset` (by video).
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from torch.utils.data import Dataset

from vidsteal.data.decode import VIDEO_EXTENSIONS
from vidsteal.data.folder import (
    KineticsCSV,
    SkippedVideoWarning,
    VideoFileDataset,
    list_files,
)
from vidsteal.data.transforms import ClipTransform
from vidsteal.registry import Registry

DATASETS: Registry[Callable[..., Dataset]] = Registry("dataset")
KINETICS_VARIANTS = (400, 600, 700)  # each is named for its number of classes
_SPLIT_NAMES = {"train": ("train", "training"), "val": ("val", "validate", "validation"), "test": ("test", "testing")}


def kinetics(root: str | Path, variant: Literal[400, 600, 700], split: str = "train", *,
             csv_path: str | Path | None = None, video_dir: str | Path | None = None,
             transform: ClipTransform | None = None, clips_per_video: int = 1, classes: Sequence[str] | None = None,
             seek_window: bool = False, scan: bool = True) -> KineticsCSV:
    """Kinetics-400/600/700 (Kay et al., 2017; Carreira et al., 2018, 2019) as the official scripts download it::

        root/annotations/{train,val,test}.csv     label,youtube_id,time_start,time_end,split
        root/{train,val,test}/<youtube_id>_<start:06d>_<end:06d>.mp4     (or .../<label>/<file>)

    CSV names ``kinetics{variant}_{split}.csv``, ``kinetics-{variant}_{split}.csv`` and split aliases
    (``validate``, ``validation``) are found too. Labels index the *training* CSV's sorted class names, so train,
    val and test agree (and match torchvision's Kinetics-400 order); a test CSV without labels gives -1.

    Args:
        variant: 400, 600 or 700; a CSV with another number of classes only warns (partial copies are common).
        split: train, val or test.
        csv_path / video_dir: override the found annotation file / video folder.
        classes: label order to use instead (e.g. the victim's card categories).
        seek_window: decode only [time_start, time_end) of untrimmed downloads.
    """
    root = Path(root)
    if variant not in KINETICS_VARIANTS:
        raise ValueError(f"Kinetics variant must be 400, 600 or 700, got {variant!r}")
    aliases = _aliases(split)
    csv_path = Path(csv_path) if csv_path is not None else _find_csv(root, variant, aliases)
    if video_dir is None:
        video_dir = next((root / a for a in aliases if (root / a).is_dir()), None)
        if video_dir is None:
            raise FileNotFoundError(f"no video folder for split {split!r} under {root} (tried {', '.join(aliases)})")
    if classes is None:
        train_csv = _find_csv(root, variant, _aliases("train"), required=False)
        classes = _csv_labels(train_csv if train_csv is not None else csv_path)
        if classes and len(classes) != variant:
            warnings.warn(f"{train_csv or csv_path} lists {len(classes)} classes, Kinetics-{variant} has {variant}: "
                          f"a partial copy or the wrong variant?", stacklevel=2)
    return KineticsCSV(video_dir, csv_path, split=None, transform=transform, clips_per_video=clips_per_video,
                       split_dir="", seek_window=seek_window, classes=classes, scan=scan)


class MomentsInTime(VideoFileDataset):
    """Moments in Time (Monfort et al., 2019, http://moments.csail.mit.edu) in its release layout::

        root/{training,validation}/<category>/<video>.mp4      root/moments_categories.txt ("name,index")

    For grey-box KD it is the attacker's irrelevant, *unlabeled* set: ``labeled=False`` (default) ignores the
    categories and gives label -1. With ``labeled=True``, labels follow ``moments_categories.txt`` when present,
    else sorted folder names.
    """

    def __init__(self, root: str | Path, split: str = "training", labeled: bool = False,
                 transform: ClipTransform | None = None, clips_per_video: int = 1,
                 extensions: Sequence[str] = VIDEO_EXTENSIONS, scan: bool = True) -> None:
        root = Path(root)
        folder = next((root / a for a in _aliases(split) if (root / a).is_dir()), None)
        if folder is None:
            raise FileNotFoundError(f"no {split!r} folder under {root} (tried {', '.join(_aliases(split))})")
        found = list_files(folder, extensions)
        if not found:
            raise FileNotFoundError(f"no videos with extensions {tuple(extensions)} under {folder}")
        classes: list[str] = []
        if labeled:
            classes = _mit_categories(root) or sorted(e.name for e in os.scandir(folder) if e.is_dir())
            index = {name: i for i, name in enumerate(classes)}
            unknown = sorted({Path(p).relative_to(folder).parts[0] for p in found} - set(index))
            if unknown:
                raise ValueError(f"{folder} has folders that are not categories: {unknown[:5]}")
            videos = [(p, index[Path(p).relative_to(folder).parts[0]], None, None) for p in found]
        else:
            videos = [(p, -1, None, None) for p in found]
        super().__init__(videos, classes, transform, clips_per_video, scan)
        self.root = folder


class UCF101(VideoFileDataset):
    """UCF101 (Soomro et al., 2012) with its official three train/test splits::

        root/<Class>/v_<Class>_gXX_cYY.avi
        splits/classInd.txt ("1 ApplyEyeMakeup"), trainlist0{1,2,3}.txt ("Class/v_....avi 1"), testlist0{1,2,3}.txt

    ``splits`` defaults to ``ucfTrainTestlist`` inside or beside ``root``. Labels are classInd's index - 1.
    Paths resolve case-insensitively: the release spells some folders differently from the lists.
    """

    def __init__(self, root: str | Path, fold: int = 1, train: bool = True, splits: str | Path | None = None,
                 transform: ClipTransform | None = None, clips_per_video: int = 1, scan: bool = True) -> None:
        root = Path(root)
        if fold not in (1, 2, 3):
            raise ValueError(f"UCF101 has folds 1, 2 and 3, got {fold}")
        if splits is None:
            found = [d for d in (root / "ucfTrainTestlist", root.parent / "ucfTrainTestlist") if d.is_dir()]
            splits = found[0] if found else None
            if splits is None:
                raise FileNotFoundError(f"no ucfTrainTestlist folder in or beside {root}; pass splits=")
        splits = Path(splits)
        classes = _read_class_ind(splits / "classInd.txt")
        index = {name.lower(): i for i, name in enumerate(classes)}
        list_path = splits / f"{'train' if train else 'test'}list0{fold}.txt"
        videos, missing = [], []
        resolve = _CaseInsensitive(root)
        for line_no, line in enumerate(_lines(list_path), start=1):
            rel, *label = line.split()
            folder = rel.split("/")[0].lower()
            if folder not in index:
                raise ValueError(f"{list_path}:{line_no}: class folder {rel.split('/')[0]!r} is not in classInd.txt")
            if label and int(label[0]) - 1 != index[folder]:
                raise ValueError(f"{list_path}:{line_no}: label {label[0]} disagrees with classInd for {rel}")
            path = resolve(rel)
            if path is None:
                missing.append(str(root / rel))
            else:
                videos.append((path, index[folder], None, None))
        super().__init__(videos, classes, transform, clips_per_video, scan)
        self.root, self.missing = root, missing
        if missing:
            warnings.warn(f"{len(missing)} of {len(missing) + len(videos)} videos in {list_path} are missing "
                          f"under {root} (first: {missing[0]})", SkippedVideoWarning, stacklevel=2)


# Registered by name so configs can say `data: {name: kinetics400, root: ...}`.
@DATASETS.register()
def kinetics400(root: str | Path, split: str = "train", **kwargs) -> KineticsCSV:
    return kinetics(root, 400, split, **kwargs)


@DATASETS.register()
def kinetics600(root: str | Path, split: str = "train", **kwargs) -> KineticsCSV:
    return kinetics(root, 600, split, **kwargs)


@DATASETS.register()
def kinetics700(root: str | Path, split: str = "train", **kwargs) -> KineticsCSV:
    return kinetics(root, 700, split, **kwargs)


DATASETS.register("moments_in_time")(MomentsInTime)
DATASETS.register("ucf101")(UCF101)


def create_dataset(name: str, **kwargs) -> Dataset:
    return DATASETS.get(name)(**kwargs)


def _aliases(split: str) -> tuple[str, ...]:
    for names in _SPLIT_NAMES.values():
        if split in names:
            return names
    return (split,)


def _find_csv(root: Path, variant: int, aliases: Sequence[str], required: bool = True) -> Path | None:
    names = [f"{pre}{a}.csv" for a in aliases
             for pre in ("", f"kinetics{variant}_", f"kinetics-{variant}_", f"kinetics_{variant}_")]
    for folder in (root / "annotations", root):
        for name in names:
            if (folder / name).is_file():
                return folder / name
    if required:
        raise FileNotFoundError(f"no Kinetics annotation CSV for {aliases[0]!r} in {root}/annotations or {root} "
                                f"(tried {', '.join(names[:4])}, ...); pass csv_path=")
    return None


def _csv_labels(csv_path: Path) -> list[str]:
    with open(csv_path, newline="") as handle:
        reader = csv.DictReader(handle)
        return sorted({row["label"] for row in reader}) if "label" in (reader.fieldnames or ()) else []


def _mit_categories(root: Path) -> list[str]:
    path = root / "moments_categories.txt"
    if not path.is_file():
        return []
    pairs = [line.rsplit(",", 1) for line in _lines(path)]
    return [name for name, _ in sorted(pairs, key=lambda pair: int(pair[1]))]


def _read_class_ind(path: Path) -> list[str]:
    entries = [line.split() for line in _lines(path)]
    if any(len(e) != 2 or not e[0].isdigit() for e in entries):
        raise ValueError(f"{path} must hold lines '<index> <ClassName>'")
    ordered = sorted(entries, key=lambda e: int(e[0]))
    if [int(e[0]) for e in ordered] != list(range(1, len(ordered) + 1)):
        raise ValueError(f"{path}: class indices must run 1..{len(ordered)}")
    return [name for _, name in ordered]


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


class _CaseInsensitive:
    """Resolves ``Class/file`` under root, exactly or ignoring case; lists each folder once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._listings: dict[Path, dict[str, str]] = {}

    def _listing(self, folder: Path) -> dict[str, str]:
        if folder not in self._listings:
            try:
                self._listings[folder] = {name.lower(): name for name in os.listdir(folder)}
            except OSError:
                self._listings[folder] = {}
        return self._listings[folder]

    def __call__(self, rel: str) -> str | None:
        path = self.root
        for part in re.split(r"[/\\]", rel):
            name = self._listing(path).get(part.lower())
            if name is None:
                return None
            path = path / name
        return str(path)
