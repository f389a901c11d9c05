"""The embedded victims: trained once per (arch, config), cached in a runs folder, reused by every attack."""

from __future__ import annotations

from pathlib import Path

import torch

from vidsteal.data.embedded import ClipDataset, make_split
from vidsteal.eval.evaluate import predict
from vidsteal.models import load_model
from vidsteal.runs import train_folder
from vidsteal.train.supervised import SupervisedConfig, train_supervised

EMBEDDED_VICTIMS = ("c3d_small", "swin3d_small")


def embedded_victim(arch: str = "c3d_small", runs: str | Path = "runs", cfg: SupervisedConfig | None = None,
                    callbacks: tuple = ()) -> Path:
    """Path of a trained victim's ``model.safetensors``; trains it (resumably) the first time."""
    cfg = cfg or SupervisedConfig(arch=arch)
    run_dir = train_folder(runs, cfg)
    train_supervised(cfg, run_dir, callbacks=callbacks)
    return run_dir / "model.safetensors"


def victim_test_logits(victim_path: str | Path, test_set: ClipDataset) -> torch.Tensor:
    """The auditor's measurement of the victim on the held-out split (not paid queries)."""
    logits, _ = predict(load_model(victim_path), test_set)
    return logits


def embedded_test_set(cfg: SupervisedConfig | None = None, size: int | None = None) -> ClipDataset:
    cfg = cfg or SupervisedConfig()
    return make_split(cfg.benchmark, "test", size or cfg.test_size, cfg.seed)
