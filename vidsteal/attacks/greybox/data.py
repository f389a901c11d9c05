"""The grey-box attacker's data: an irrelevant unlabeled set and a labeled k% of the victim's domain.

Both come either from the embedded benchmark (the irrelevant clip family standing in for Moments in Time, and a
stratified fraction of the victim's own training split standing in for 5% of Kinetics) or from folders of videos
(``UnlabeledVideoFolder`` for the auxiliary set, a class-per-folder ``VideoFolder`` for the labeled one), decoded
to the victim's clip geometry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from pydantic import Field
from torch.utils.data import Dataset, Subset

from vidsteal.config import BaseConfig
from vidsteal.data.embedded import AuxFamily, ClipDataset, make_auxiliary, make_split
from vidsteal.data.sources import materialise
from vidsteal.data.subsets import labeled_subset
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.data.transforms import ClipTransform

EMBEDDED = "embedded"


class GreyboxData(BaseConfig):
    """Where the attacker's two datasets come from."""

    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig,
                                       description="clip geometry and classes of the victim's domain")
    aux: str = Field(EMBEDDED, description="'embedded' (generated irrelevant clips) or a folder of unlabeled videos")
    aux_family: AuxFamily = Field(
        "auto", description="embedded aux set: objects (the victim's world, objects of no class: the stand-in for "
        "Moments in Time), abstract (gratings, blobs, flicker: another world), auto = objects on v2, abstract on v1")
    aux_size: int = Field(2000, ge=1, description="auxiliary clips to query (a folder is cut to this many)")
    labeled: str = Field(EMBEDDED, description="'embedded' (the victim's training split) or a class-per-folder tree")
    labeled_pool: int = Field(6000, ge=1, description="size of the embedded training split the fraction is drawn from")
    pool_seed: int = Field(0, ge=0, description="seed of that split (0: the split the embedded victims trained on)")
    labeled_fraction: float = Field(0.05, gt=0, le=1, description="labeled share, stratified by class, fixed by seed")
    aux_cutmix: float = Field(0.0, ge=0, le=1, description="share of the paid aux clips that are CutMix composites of "
                              "two aux clips (a box of one pasted into the other, every frame), made before querying")

    ADDED_LATER = {"aux_family": "abstract"}  # saved runs from before the field used the abstract family


@dataclass
class GreyboxDatasets:
    aux: Dataset
    labeled: ClipDataset


def _transform(bench: BenchmarkConfig) -> ClipTransform:
    return ClipTransform(num_frames=bench.frames, resize=bench.size, crop=bench.size)


def load_aux(cfg: GreyboxData, seed: int = 0) -> Dataset:
    if cfg.aux == EMBEDDED:
        return make_auxiliary(cfg.benchmark, cfg.aux_size, seed, cfg.aux_family)
    from vidsteal.data.folder import UnlabeledVideoFolder

    folder = UnlabeledVideoFolder(cfg.aux, transform=_transform(cfg.benchmark))
    order = torch.randperm(len(folder), generator=torch.Generator().manual_seed(seed))[: cfg.aux_size]
    return Subset(folder, order.sort().values.tolist())


def load_labeled(cfg: GreyboxData, seed: int = 0, categories: list[str] | None = None) -> ClipDataset:
    """The labeled fraction, in memory (it is small); ``categories`` are the victim's, to check class order."""
    if cfg.labeled == EMBEDDED:
        pool = make_split(cfg.benchmark, "train", cfg.labeled_pool, cfg.pool_seed)
        if categories is not None and pool.classes != list(categories):
            raise ValueError("the embedded benchmark's classes differ from the victim's; "
                             "set data.benchmark to the victim's benchmark config")
        return labeled_subset(pool, cfg.labeled_fraction, seed)
    from vidsteal.data.folder import VideoFolder

    folder = VideoFolder(cfg.labeled, transform=_transform(cfg.benchmark))
    if categories is not None and folder.classes != list(categories):
        raise ValueError(f"class folders of {cfg.labeled} ({len(folder.classes)}) do not match the victim's "
                         f"{len(categories)} categories in name and order")
    subset = labeled_subset(folder, cfg.labeled_fraction, seed)
    return materialise(subset, folder.classes, f"labeled data {cfg.labeled}")


class CutMixAux(Dataset):
    """``base`` with a ``share`` of its clips (evenly interleaved, so any prefix a budget cuts holds the same share)
    replaced by CutMix composites of two of its clips.

    Composites put one clip's texture or object inside another's scene, which off-domain clips rarely do alone, so
    the victim's answers on them spread over more of its classes. Each composite is fixed by (seed, index): a re-run
    pays for exactly the same clips, so the query ledger answers them for free.
    """

    def __init__(self, base: Dataset, share: float, seed: int = 0) -> None:
        self.base, self.share, self.seed = base, share, seed

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        clip, label = self.base[i]
        if math.floor((i + 1) * self.share) == math.floor(i * self.share):
            return clip, label
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        other = self.base[int(torch.randint(len(self), (1,), generator=g))][0]
        size = clip.shape[-1]
        box = int(torch.randint(size // 4, size // 2 + 1, (1,), generator=g))
        y, x = torch.randint(0, size - box + 1, (2,), generator=g).tolist()
        clip = clip.clone()
        clip[..., y:y + box, x:x + box] = other[..., y:y + box, x:x + box]
        return clip, -1


def load_greybox_data(cfg: GreyboxData, seed: int = 0, categories: list[str] | None = None) -> GreyboxDatasets:
    return GreyboxDatasets(load_aux(cfg, seed), load_labeled(cfg, seed, categories))
