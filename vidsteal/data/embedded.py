"""Datasets of the embedded benchmark: deterministic train / val / test splits, a labeled k% subset, the aux set.

Splits use disjoint seed streams, so the test clips are never seen in training. Clips live in memory as one
uint8 tensor ``(N, T, C, H, W)``: a few thousand 8x32x32 clips take tens of MB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import torch
from torch.utils.data import Dataset

from vidsteal.data.auxiliary import FAMILIES, render_auxiliary
from vidsteal.data.kinetics_like import (LOOK_SHAPES, OTHER_SHAPES, SCENES, TEXTURES, class_table, clip_motions, look,
                                         render_looks, render_other_objects)
from vidsteal.data.synthetic import BenchmarkConfig, render_clips

_SPLIT_CODES = {"train": 1, "test": 2, "val": 3, "aux": 4}
_CHUNK = 512  # bounds peak memory while rendering


class ClipDataset(Dataset):
    """In-memory clips + labels (label -1 = unlabeled); items are ``(uint8 (T, C, H, W), int)``.

    ``factors`` (optional) names what each class is made of as ``(K,)`` index tensors (see
    :func:`benchmark_factors`: appearance / motion in v2, shape / motion in v1), so a student's errors can be split
    into appearance and motion.
    """

    def __init__(self, clips: torch.Tensor, labels: torch.Tensor, classes: list[str],
                 factors: dict[str, torch.Tensor] | None = None) -> None:
        if clips.ndim != 5 or clips.dtype != torch.uint8:
            raise ValueError(f"expected uint8 clips (N, T, C, H, W), got {clips.dtype} {tuple(clips.shape)}")
        if labels.shape[0] != clips.shape[0]:
            raise ValueError(f"{clips.shape[0]} clips but {labels.shape[0]} labels")
        self.clips, self.labels, self.classes = clips, labels.long(), classes
        self.factors = factors

    def __len__(self) -> int:
        return self.clips.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.clips[i], int(self.labels[i])

    def subset(self, index: torch.Tensor) -> "ClipDataset":
        return ClipDataset(self.clips[index], self.labels[index], self.classes, self.factors)

    def save(self, path: str | Path) -> None:
        """Write as safetensors (clips, labels) with the class list in the metadata; no pickle."""
        from safetensors.torch import save_file

        factors = {f"factor.{k}": v for k, v in (self.factors or {}).items()}
        save_file({"clips": self.clips.contiguous(), "labels": self.labels, **factors}, str(path),
                  metadata={"classes": "\n".join(self.classes)})

    @classmethod
    def load(cls, path: str | Path) -> "ClipDataset":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            factors = {k.removeprefix("factor."): f.get_tensor(k) for k in f.keys() if k.startswith("factor.")}
            return cls(f.get_tensor("clips"), f.get_tensor("labels"), meta.get("classes", "").split("\n"),
                       factors or None)


def _generator(seed: int, split: str) -> torch.Generator:
    if split not in _SPLIT_CODES:
        raise ValueError(f"unknown split {split!r}; choose from {tuple(_SPLIT_CODES)}")
    return torch.Generator().manual_seed(seed * 7919 + _SPLIT_CODES[split])


def make_split(cfg: BenchmarkConfig, split: str, n: int, seed: int = 0) -> ClipDataset:
    """``n`` class-balanced clips of the benchmark; same (cfg, split, n, seed) -> identical tensors.

    ``split`` is train, val or test: each has its own seed stream, so no clip is shared between them. Choose
    settings on val and report test once.
    """
    classes = cfg.classes()
    g = _generator(seed, split)
    labels = torch.arange(n) % len(classes)
    labels = labels[torch.randperm(n, generator=g)]
    factors = benchmark_factors(cfg)  # the one class -> factors mapping, also used to score students
    if cfg.kind == "kinetics":
        looks, motions = factors["appearance"][labels], clip_motions(factors["motion"][labels], g)
        chunks = [render_looks(looks[i : i + _CHUNK], motions[i : i + _CHUNK], cfg, g) for i in range(0, n, _CHUNK)]
    else:
        shape, motion = factors["shape"][labels], factors["motion"][labels]
        chunks = [render_clips(shape[i : i + _CHUNK], motion[i : i + _CHUNK], cfg, g) for i in range(0, n, _CHUNK)]
    return ClipDataset(torch.cat(chunks), labels, classes, factors)


def benchmark_factors(cfg: BenchmarkConfig) -> dict[str, torch.Tensor]:
    """What each class is made of, as per-class index tensors.

    v2 (kinetics): ``appearance`` = the class's look (object shape, texture, scene; the two classes of a motion
    pair share one), ``motion`` = 0 for an appearance class (any motion, drawn per clip), else the index in
    :data:`~vidsteal.data.kinetics_like.MOTIONS` of the one motion that defines it; ``shape``, ``texture`` and
    ``scene`` split the look into its parts (indices in LOOK_SHAPES / TEXTURES / SCENES), so a student's look errors
    can be traced to the part it misses. v1 (motion): ``shape`` and ``motion`` index ``cfg.shapes`` /
    ``cfg.motions`` (class = shape * motions + motion).
    """
    if cfg.kind == "kinetics":
        _, looks, motions = class_table(cfg.appearance_classes, cfg.motion_pairs)
        shapes, textures, scenes = zip(*(look(i) for i in looks))
        return {"appearance": torch.tensor(looks), "motion": torch.tensor(motions),
                "shape": torch.tensor([LOOK_SHAPES.index(s) for s in shapes]),
                "texture": torch.tensor([TEXTURES.index(t) for t in textures]),
                "scene": torch.tensor([SCENES.index(s) for s in scenes])}
    index = torch.arange(len(cfg.shapes) * len(cfg.motions))
    return {"shape": index // len(cfg.motions), "motion": index % len(cfg.motions)}


def motion_classes(cfg: BenchmarkConfig) -> torch.Tensor:
    """Per class, whether it is defined by motion (a per-frame model cannot tell it from its pair): v2's motion
    pairs; every class of v1."""
    if cfg.kind == "kinetics":
        return benchmark_factors(cfg)["motion"] > 0
    return torch.ones(len(cfg.classes()), dtype=torch.bool)


def per_frame_ceiling(cfg: BenchmarkConfig) -> float:
    """Top-1 of a perfect per-frame model: it sees each class's look (v2 appearance, v1 shape) but no motion, so it
    can only guess among the classes that share a look (v2: 1 - pairs / classes; v1: 1 / motions)."""
    factors = benchmark_factors(cfg)
    looks = factors["appearance" if cfg.kind == "kinetics" else "shape"]
    sharing = (looks.view(-1, 1) == looks.view(1, -1)).sum(1).float()
    return (1 / sharing).mean().item()


AuxFamily = Literal["auto", "objects", "abstract"]
AUX_FAMILIES: tuple[str, ...] = get_args(AuxFamily)


def make_auxiliary(cfg: BenchmarkConfig, n: int, seed: int = 0, family: AuxFamily = "auto") -> ClipDataset:
    """``n`` unlabeled clips of an irrelevant family, same frames and size as the benchmark.

    ``objects``: the benchmark's world (scenes, textures, motions, distractors) with objects of no class, as Moments
    in Time is footage of the same world as Kinetics with other categories. ``abstract``: gratings, blobs, rings,
    flicker and noise textures, a different world altogether. ``auto``: objects on v2, abstract on v1 (v1's figures
    were made with it).
    """
    if family not in AUX_FAMILIES:
        raise ValueError(f"aux family must be one of {AUX_FAMILIES}, got {family!r}")
    if family == "auto":
        family = "objects" if cfg.kind == "kinetics" else "abstract"
    g = _generator(seed, "aux")
    if family == "objects":
        chunks = [render_other_objects(min(_CHUNK, n - i), cfg, g) for i in range(0, n, _CHUNK)]
        return ClipDataset(torch.cat(chunks), torch.full((n,), -1), list(OTHER_SHAPES))
    fam = torch.randint(0, len(FAMILIES), (n,), generator=g)
    chunks = [render_auxiliary(fam[i : i + _CHUNK], cfg.frames, cfg.size, g) for i in range(0, n, _CHUNK)]
    return ClipDataset(torch.cat(chunks), torch.full((n,), -1), list(FAMILIES))

