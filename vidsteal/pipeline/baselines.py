"""Labeled-data baselines (``vidsteal labeled-baselines``): the victim, then how much the benchmark needs motion.

Trains the default 3D CNN victim and two labeled-data baselines on the same clips: a per-frame CNN that averages
frame logits (the reference study's "Frame" student, blind to motion) and a small 3D CNN student. Every number is
measured on the held-out test split; the benchmark's class factors (v2: appearance / motion; v1: shape / motion)
and the top-1 on the motion-defined classes show where a model fails.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from pydantic import Field

from vidsteal import runs
from vidsteal.config import BaseConfig
from vidsteal.data.embedded import make_split, motion_classes
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.eval.evaluate import predict
from vidsteal.eval.metrics import factor_accuracy, topk_accuracy
from vidsteal.models import load_model
from vidsteal.models.per_frame import PerFrame
from vidsteal.train.loop import Callback, OptimConfig
from vidsteal.train.supervised import SupervisedConfig, train_supervised


def _demo_recipe() -> SupervisedConfig:
    from vidsteal.pipeline.study import demo_victim  # the study imports the attacks: load it only when asked

    return demo_victim("c3d_small")


class BaselineModel(BaseConfig):
    arch: str
    role: str = Field(description="victim, or the baseline this model stands for")
    epochs: int | None = Field(None, description="overrides optim.epochs for this model")


class BaselinesConfig(BaseConfig):
    """Defaults = the demo victims' recipe (``StudyConfig.victim``), so the victim row is the demo's cached victim."""

    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig)
    train_size: int = Field(default_factory=lambda: _demo_recipe().train_size)
    test_size: int = Field(default_factory=lambda: _demo_recipe().test_size)
    optim: OptimConfig = Field(default_factory=lambda: _demo_recipe().optim)
    models: tuple[BaselineModel, ...] = (
        BaselineModel(arch="c3d_small", role="victim"),
        BaselineModel(arch="frame_cnn", role="per-frame student, real labels"),
        BaselineModel(arch="c3d_student", role="3D student, real labels"),
    )
    seed: int = 0

    @classmethod
    def quick(cls) -> "BaselinesConfig":
        return cls(train_size=96, test_size=48, optim=OptimConfig(epochs=1, batch_size=32),
                   benchmark=BenchmarkConfig(appearance_classes=4, motion_pairs=("lateral",), frames=4, size=16))


def _scores(model: Any, test: Any, motion_mask: Any) -> dict[str, Any]:
    """Top-1/5, accuracy on each class factor, and top-1 on the motion-defined classes (a per-frame model can only
    guess those within their pair)."""
    logits, labels = predict(model, test)
    right = logits.argmax(1) == labels
    on_motion = motion_mask[labels]
    out = {"top1": topk_accuracy(logits, labels, 1), "top5": topk_accuracy(logits, labels, 5),
           "motion_class_top1": right[on_motion].float().mean().item() if on_motion.any() else None,
           "per_frame": isinstance(model, PerFrame)}
    out.update({f"{k}_acc": factor_accuracy(logits, labels, v) for k, v in (test.factors or {}).items()})
    return out


def _ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Per-frame over 3D student (the first of each among the non-victims), overall and on the motion classes."""
    frame = next((r for r in rows if r["per_frame"] and r["role"] != "victim"), None)
    video = next((r for r in rows if not r["per_frame"] and r["role"] != "victim"), None)
    if frame is None or video is None:
        return {}
    out = {"top1": frame["top1"] / video["top1"]}
    if frame["motion_class_top1"] is not None and video["motion_class_top1"]:
        out["motion_class_top1"] = frame["motion_class_top1"] / video["motion_class_top1"]
    return out


def run_baselines(
    cfg: BaselinesConfig, run_dir: str | Path, progress_factory: Callable[[str, int], Callback] | None = None
) -> dict[str, Any]:
    """Train every model of ``cfg`` (resuming finished ones), write ``summary.json``; returns it."""
    run_dir = runs.open_run(run_dir, cfg, what="baselines config")
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
        model_dir = runs.train_folder(run_dir.parent, scfg)
        result = train_supervised(scfg, model_dir, callbacks, train_set=train, test_set=test)
        rows.append({"arch": spec.arch, "role": spec.role,
                     **_scores(load_model(model_dir / "model.safetensors"), test, motion_classes(cfg.benchmark)),
                     "train_seconds": result["train_seconds"], "weights": str(model_dir / "model.safetensors")})
    summary = {"run_dir": str(run_dir), "rows": rows, "chance": 1 / len(train.classes), "classes": train.classes,
               "per_frame_over_3d": _ratios(rows), "seconds": time.perf_counter() - start}
    runs.write_json(run_dir / "summary.json", summary)
    return summary
