"""The embedded demo: train the victim, then show how much the benchmark needs motion.

Trains the default 3D CNN victim and two labeled-data baselines on the same clips: a per-frame CNN that averages
frame logits (the reference study's "Frame" student, blind to motion) and a small 3D CNN student. Every number is
measured on the held-out test split, and the benchmark's (shape, motion) factorisation shows where a model fails.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from pydantic import Field

from vidsteal.config import BaseConfig
from vidsteal.data.embedded import make_split
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.eval.evaluate import predict
from vidsteal.eval.metrics import topk_accuracy
from vidsteal.train.loop import Callback, OptimConfig
from vidsteal.train.supervised import SupervisedConfig, train_supervised


class DemoModel(BaseConfig):
    arch: str
    role: str = Field(description="victim, or the baseline this model stands for")
    epochs: int | None = Field(None, description="overrides optim.epochs for this model")


class DemoConfig(BaseConfig):
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig)
    train_size: int = 6000
    test_size: int = 2000
    optim: OptimConfig = Field(default_factory=OptimConfig)
    models: tuple[DemoModel, ...] = (
        DemoModel(arch="c3d_small", role="victim"),
        DemoModel(arch="frame_cnn", role="per-frame student, real labels"),
        DemoModel(arch="c3d_student", role="3D student, real labels"),
    )
    seed: int = 0

    @classmethod
    def quick(cls) -> "DemoConfig":
        return cls(train_size=96, test_size=48, optim=OptimConfig(epochs=1, batch_size=32),
                   benchmark=BenchmarkConfig(shapes=("square", "triangle"), motions=("right", "left", "cw"),
                                             frames=4, size=16))


def factor_accuracy(pred: Any, labels: Any, n_motions: int) -> tuple[float, float]:
    """(shape accuracy, motion accuracy) of top-1 predictions; class = shape * n_motions + motion."""
    shape = (pred // n_motions == labels // n_motions).float().mean().item()
    motion = (pred % n_motions == labels % n_motions).float().mean().item()
    return shape, motion


def run_demo(
    cfg: DemoConfig, run_dir: str | Path, progress_factory: Callable[[str, int], Callback] | None = None
) -> dict[str, Any]:
    """Train every model of ``cfg`` (resuming finished ones), write ``summary.json``; returns it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(run_dir / "config.yaml")
    start = time.perf_counter()
    train = make_split(cfg.benchmark, "train", cfg.train_size, cfg.seed)
    test = make_split(cfg.benchmark, "test", cfg.test_size, cfg.seed)
    rows = []
    for spec in cfg.models:
        optim = cfg.optim if spec.epochs is None else cfg.optim.model_copy(update={"epochs": spec.epochs})
        scfg = SupervisedConfig(arch=spec.arch, benchmark=cfg.benchmark, train_size=cfg.train_size,
                                test_size=cfg.test_size, optim=optim, seed=cfg.seed)
        callbacks = [progress_factory(spec.arch, optim.epochs)] if progress_factory else []
        # Same folder as `vidsteal train-victim` with the same config: trained models are shared, not retrained.
        model_dir = run_dir.parent / f"train_{spec.arch}_{scfg.hash()}"
        result = train_supervised(scfg, model_dir, callbacks, train_set=train, test_set=test)
        from vidsteal.models import load_model

        logits, labels = predict(load_model(model_dir / "model.safetensors"), test)
        shape_acc, motion_acc = factor_accuracy(logits.argmax(1), labels, len(cfg.benchmark.motions))
        rows.append({"arch": spec.arch, "role": spec.role, "top1": topk_accuracy(logits, labels, 1),
                     "top5": topk_accuracy(logits, labels, 5), "shape_acc": shape_acc, "motion_acc": motion_acc,
                     "train_seconds": result["train_seconds"], "weights": str(model_dir / "model.safetensors")})
    summary = {"run_dir": str(run_dir), "rows": rows, "chance": 1 / len(train.classes),
               "classes": train.classes, "seconds": time.perf_counter() - start}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
