"""Where an audit's clips come from: the embedded benchmark, or the user's own videos, decoded for one victim.

One resolver for every place that takes data (``--test-data``, the grey-box ``--aux`` and ``--labeled``):

- ``embedded``: the embedded benchmark the victim was trained on (only for victims whose card records it);
- a folder: ``root/<class>/**/<video>`` for labeled data, any layout for the unlabeled auxiliary set (images too,
  png/jpg/bmp/webp, when the victim takes single frames: an image classifier);
- a Kinetics-style CSV (``label,youtube_id,time_start,time_end[,split]``), its videos under the CSV's folder or
  ``root`` (``root/<split>/<label>/<file>`` or flat, see :class:`~vidsteal.data.folder.KineticsCSV`).

Videos are decoded with PyAV to the victim card's frames and square size (resize the short side, centre crop).
Class names are matched to the victim's class list, by name (case, ``_`` and ``-`` vs spaces ignored) and never
by position: a class the victim does not know is an error naming it, so labels can never silently misalign.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from vidsteal.data.decode import MEDIA_EXTENSIONS, VIDEO_EXTENSIONS, VideoDecodeError
from vidsteal.data.embedded import ClipDataset, make_auxiliary, make_split
from vidsteal.data.folder import KineticsCSV, UnlabeledVideoFolder, VideoFileDataset, VideoFolder, collate_skip
from vidsteal.data.subsets import labeled_subset
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.data.transforms import ClipTransform
from vidsteal.models.registry import ModelCard

EMBEDDED = "embedded"
EMBEDDED_VAL = "embedded:val"  # the validation split: choose settings on it, report the test split once


class DataSpecError(ValueError):
    """Data that cannot be used with this victim; the message is one line saying what was expected."""


def clip_transform(card: ModelCard) -> ClipTransform:
    """Evaluation-style decoding to the victim's clips: centre segment, short side resized, centre crop."""
    if card.frames is None or card.size is None:
        raise DataSpecError("the victim's card does not give its clip frames and square size; cannot decode videos "
                            "for it")
    return ClipTransform(num_frames=card.frames, resize=card.size, crop=card.size)


def media_extensions(card: ModelCard) -> tuple[str, ...]:
    """The files a folder's data are read from: videos, plus images when the victim takes single frames (an image
    classifier is the case T = 1). Images beside the videos of a clip victim (thumbnails, posters) stay out."""
    return MEDIA_EXTENSIONS if card.frames == 1 else VIDEO_EXTENSIONS


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name).strip().lower()


def match_classes(names: list[str], card: ModelCard, where: str) -> dict[str, int]:
    """Victim class index of every data class name; raises :class:`DataSpecError` naming the unknown ones.

    A victim whose card has no class names accepts only data classes named by index (``0`` .. ``K-1``).
    """
    if card.categories is None:
        index = {str(i): i for i in range(card.num_classes)}
        unknown = [n for n in names if n.strip() not in index]
        if unknown:
            raise DataSpecError(f"the victim's card lists no class names, so the classes of {where} must be named "
                                f"0..{card.num_classes - 1}; got {_some(unknown)}: give a card with 'classes'")
        return {n: index[n.strip()] for n in names}
    exact = {c: i for i, c in enumerate(card.categories)}
    loose: dict[str, int] = {}
    for i, c in enumerate(card.categories):
        loose.setdefault(_norm(c), i)
    mapping = {n: exact[n] if n in exact else loose.get(_norm(n), -1) for n in names}
    unknown = [n for n, i in mapping.items() if i < 0]
    if unknown:
        raise DataSpecError(f"{len(unknown)} class(es) of {where} are not among the victim's {len(card.categories)} "
                            f"classes: {_some(unknown)} (victim's: {_some(card.categories)})")
    return mapping


def _some(names: list[str], k: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:k])
    return shown + (f" and {len(names) - k} more" if len(names) > k else "")


def labeled_videos(spec: str | Path, card: ModelCard, root: str | Path | None = None) -> VideoFileDataset:
    """The labeled videos of a class folder or a Kinetics-style CSV, labels indexing the victim's classes."""
    path = Path(spec)
    transform = clip_transform(card)
    try:
        if path.is_dir():
            videos: VideoFileDataset = VideoFolder(path, transform, extensions=media_extensions(card))
        elif path.suffix.lower() == ".csv" and path.is_file():
            videos = KineticsCSV(Path(root) if root is not None else path.parent, path, transform=transform)
        else:
            raise DataSpecError(f"labeled data {spec} is neither a class folder nor a .csv file; expected "
                                "'embedded', DIR/<class>/<videos> or a Kinetics-style CSV")
    except (ValueError, FileNotFoundError) as err:
        if isinstance(err, DataSpecError):
            raise
        raise DataSpecError(f"cannot read labeled data {spec}: {err}") from err
    if not videos.classes:
        raise DataSpecError(f"{spec} names no classes (a CSV needs a 'label' column)")
    mapping = match_classes(videos.classes, card, str(spec))
    videos.relabel([mapping[name] for name in videos.classes], card.categories or
                   [str(i) for i in range(card.num_classes)])
    if videos.num_videos == 0:
        raise DataSpecError(f"no readable video in {spec}" + ("" if path.is_dir() else
                                                             f" (videos are looked for under {root or path.parent})"))
    return videos


def materialise(dataset: Dataset, classes: list[str], what: str) -> ClipDataset:
    """Decode once into memory (test sets and labeled fractions are read many times); unreadable files drop out."""
    clips, labels = [], []
    for batch in DataLoader(dataset, batch_size=32, shuffle=False, collate_fn=collate_skip):
        if batch is not None:
            clips.append(batch[0])
            labels.append(torch.as_tensor(batch[1]))
    if not clips:
        raise DataSpecError(f"no clip of {what} could be decoded")
    return ClipDataset(torch.cat(clips), torch.cat(labels), classes)


def _embedded_benchmark(card: ModelCard, what: str) -> BenchmarkConfig:
    if card.dataset is None:
        raise DataSpecError(f"this victim was not trained on the embedded benchmark, so {what} cannot be "
                            "'embedded': give a folder of videos or a CSV")
    return BenchmarkConfig.model_validate(card.dataset)


def resolve_test_data(spec: str | Path, card: ModelCard, *, size: int | None = None, seed: int = 0,
                      root: str | Path | None = None) -> ClipDataset:
    """The auditor's labeled test clips, in memory, labels indexing the victim's classes.

    Args:
        spec: ``embedded`` (its test split), ``embedded:val`` (its validation split, where settings are chosen), a
            class folder, or a Kinetics-style CSV (videos under ``root``, default its folder).
        card: the victim's card (classes, frames, size, and the benchmark of an embedded victim).
        size: clips for ``embedded``; for videos, at most this many (a fixed random choice by ``seed``).
    """
    if str(spec) in (EMBEDDED, EMBEDDED_VAL):
        split = "val" if str(spec) == EMBEDDED_VAL else "test"
        return make_split(_embedded_benchmark(card, "--test-data"), split, size or 1000, seed)
    videos = _labeled(spec, card, root)
    index = list(range(len(videos)))
    if size is not None and size < len(index):
        index = sorted(torch.randperm(len(index), generator=torch.Generator().manual_seed(seed))[:size].tolist())
    return materialise(Subset(videos, index), videos.classes, f"test data {spec}")


def resolve_labeled(spec: str | Path, card: ModelCard, fraction: float, *, seed: int = 0,
                    root: str | Path | None = None, pool: int = 6000, pool_seed: int = 0) -> ClipDataset:
    """The grey-box attacker's labeled share: a class-stratified ``fraction`` of the videos, fixed by ``seed``."""
    if str(spec) == EMBEDDED:
        train = make_split(_embedded_benchmark(card, "--labeled"), "train", pool, pool_seed)
        return labeled_subset(train, fraction, seed)
    videos = _labeled(spec, card, root)
    return materialise(labeled_subset(videos, fraction, seed), videos.classes, f"labeled data {spec}")


def resolve_aux(spec: str | Path, card: ModelCard, size: int, *, seed: int = 0) -> Dataset:
    """The unlabeled auxiliary clips (label -1): ``embedded`` or every video under a folder, cut to ``size``."""
    if str(spec) == EMBEDDED:
        return make_auxiliary(_embedded_benchmark(card, "--aux"), size, seed)
    if not Path(spec).is_dir():
        raise DataSpecError(f"auxiliary data {spec} is not a folder; expected 'embedded' or a folder of videos")
    try:
        folder = UnlabeledVideoFolder(spec, transform=clip_transform(card), extensions=media_extensions(card))
    except (FileNotFoundError, VideoDecodeError) as err:
        raise DataSpecError(f"auxiliary data {spec}: {err}") from err
    if folder.num_videos == 0:
        raise DataSpecError(f"no readable video under {spec}")
    order = torch.randperm(len(folder), generator=torch.Generator().manual_seed(seed))[:size]
    return Subset(folder, order.sort().values.tolist())


def _labeled(spec: str | Path, card: ModelCard, root: str | Path | None) -> VideoFileDataset:
    if not Path(spec).exists():
        raise DataSpecError(f"data {spec} does not exist; expected 'embedded', DIR/<class>/<videos> or a "
                            "Kinetics-style CSV")
    return labeled_videos(spec, card, root)
