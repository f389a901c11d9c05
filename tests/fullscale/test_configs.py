"""configs/reference/*.yaml: the four reference experiments parse, and every name they use is registered."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from vidsteal.data.fullscale import DATASETS
from vidsteal.data.transforms import ClipTransform
from vidsteal.models import MODELS, NATIVE_INPUT
from vidsteal.models.generators import GENERATORS
from vidsteal.train.distributed import Runtime
from vidsteal.victims import OutputMode

ROOT = Path(__file__).resolve().parents[2] / "configs" / "reference"
NAMES = [f"{box}_{exp}" for box in ("blackbox", "greybox") for exp in ("swin_k400", "movinet_k600")]


def _load(name: str) -> dict:
    return yaml.safe_load((ROOT / f"{name}.yaml").read_text())


def test_exactly_the_four_reference_experiments():
    assert sorted(p.stem for p in ROOT.glob("*.yaml")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_reference_config_names_are_registered(name):
    cfg = _load(name)
    sections = {"experiment", "victim", "student", "budget", "data", "attack", "runtime"}
    sections |= {"generator"} if name.startswith("blackbox") else set()
    assert set(cfg) == sections
    assert cfg["experiment"]["name"] == name
    victim, student = cfg["victim"], cfg["student"]
    for model in (victim, student):
        assert model["arch"] in MODELS, f"{model['arch']} is not a registered model"
    assert (victim["frames"], victim["size"]) == NATIVE_INPUT[victim["arch"]]
    assert victim["num_classes"] == student["num_classes"] == int(name[-3:])
    OutputMode.model_validate(victim["output_mode"])
    if "generator" in cfg:
        assert cfg["generator"]["name"] in GENERATORS
    datasets = [v for v in cfg["data"].values() if isinstance(v, dict) and "name" in v]
    assert datasets and all(d["name"] in DATASETS for d in datasets)
    assert any(d["name"] == f"kinetics{name[-3:]}" for d in datasets)
    for key, value in cfg["data"].items():
        if key.endswith("_transform"):
            ClipTransform.model_validate(value)
    runtime = {k: v for k, v in cfg["runtime"].items() if k != "nproc_per_node"}
    assert set(runtime) <= set(inspect.signature(Runtime).parameters)
    assert cfg["budget"]["queries"] > 0


@pytest.mark.parametrize("name", NAMES)
def test_local_paths_are_placeholders_to_fill(name):
    cfg = _load(name)
    paths = [cfg["victim"]["weights"], cfg["student"]["init_weights"]]
    paths += [d["root"] for d in cfg["data"].values() if isinstance(d, dict) and "root" in d]
    assert all(p.startswith("/path/to/") for p in paths)
