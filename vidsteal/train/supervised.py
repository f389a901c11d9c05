"""Train a model with real labels on the embedded benchmark: the victims, and the labeled-data baselines.

``train_supervised(cfg, run_dir)`` is the library call behind ``vidsteal train-victim``. The run folder holds the
resolved config, per-epoch checkpoints (re-running resumes), the final ``model.safetensors`` with its card and
``metrics.json`` measured on the held-out test split.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import torch
from pydantic import Field

from vidsteal import runs
from vidsteal.config import BaseConfig
from vidsteal.data.embedded import ClipDataset, make_split
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.eval.evaluate import evaluate
from vidsteal.models import create_model, save_model
from vidsteal.train.loop import Callback, OptimConfig, fit, supervised_loss


class SupervisedConfig(BaseConfig):
    """A model trained on labeled benchmark clips."""

    arch: str = Field("c3d_small", description="registered model name (vidsteal list-models)")
    model_kwargs: dict[str, Any] = Field(default_factory=dict, description="builder keyword arguments")
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig)
    train_size: int = Field(6000, ge=1, description="training clips generated")
    test_size: int = Field(2000, ge=1, description="held-out test clips (never trained on)")
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    seed: int = 0


def benchmark_splits(cfg: SupervisedConfig) -> tuple[ClipDataset, ClipDataset]:
    return (make_split(cfg.benchmark, "train", cfg.train_size, cfg.seed),
            make_split(cfg.benchmark, "test", cfg.test_size, cfg.seed))


def train_supervised(
    cfg: SupervisedConfig,
    run_dir: str | Path,
    callbacks: Sequence[Callback] = (),
    train_set: ClipDataset | None = None,
    test_set: ClipDataset | None = None,
) -> dict[str, Any]:
    """Train, evaluate on the test split, save; an existing finished run is returned as is.

    Args:
        train_set / test_set: override the generated splits (e.g. a labeled k% subset).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with runs.run_lock(run_dir):  # a second process asking for the same run waits for it instead of racing
        return _train_supervised(cfg, run_dir, callbacks, train_set, test_set)


def _train_supervised(cfg: SupervisedConfig, run_dir: Path, callbacks: Sequence[Callback],
                      train_set: ClipDataset | None, test_set: ClipDataset | None) -> dict[str, Any]:
    runs.open_run(run_dir, cfg)  # a folder made with other settings is an error, not a silent answer
    done = runs.finished(run_dir)
    if done is not None:
        return done
    torch.manual_seed(cfg.seed)
    if train_set is None or test_set is None:
        gen_train, gen_test = benchmark_splits(cfg)
        train_set, test_set = train_set or gen_train, test_set or gen_test
    classes = train_set.classes
    model = create_model(cfg.arch, num_classes=len(classes), **cfg.model_kwargs)
    start = time.perf_counter()
    history = fit(model, train_set, supervised_loss(cfg.label_smoothing), cfg.optim, seed=cfg.seed,
                  ckpt_dir=run_dir / "checkpoint", callbacks=callbacks)
    train_seconds = time.perf_counter() - start
    result = evaluate(model, test_set)
    result.update(arch=cfg.arch, train_clips=len(train_set), train_seconds=train_seconds,
                  params=sum(p.numel() for p in model.parameters()), history=history)
    card = model.card.model_copy(update={
        "frames": cfg.benchmark.frames, "size": cfg.benchmark.size, "categories": classes,
        "dataset": cfg.benchmark.to_dict(),
        "metrics": {"test_top1": result["top1"], "test_top5": result["top5"]}, "recipe": cfg.hash(),
    })
    save_model(model, run_dir / "model.safetensors", card)
    return runs.finish(run_dir, result)
