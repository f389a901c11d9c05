"""One checkpoint format for every training loop: ``fit``'s epochs and the black-box session's query chunks.

A checkpoint in ``root`` is a folder ``root/ckpt_<tag>/`` holding ``model.safetensors`` (the weights),
``optim.safetensors`` (the optimiser's state as flat tensors) and ``tensors.safetensors`` (whatever else must come
back exactly: RNG states, an attack's generator and its optimiser), plus ``root/state.json``: the JSON metadata
(epoch, history, loss-scaler state, the attack's counters) and the name of that folder. Every file is written with
:func:`vidsteal.runs.atomic_write` (fsynced), the folder's first; replacing ``state.json`` is the commit point, so a
kill at any moment leaves either the previous checkpoint or the new one, never a mix of both. Older folders are
deleted after the commit. Safetensors and JSON only: loading a checkpoint never unpickles anything.

Under torchrun rank 0 writes and every rank waits; every rank reads (:class:`~vidsteal.train.distributed.Runtime`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import nn

from vidsteal.runs import atomic_write
from vidsteal.train.distributed import Runtime

STATE = "state.json"


def save_checkpoint(root: str | Path, tag: int, model: nn.Module, opt: torch.optim.Optimizer, meta: dict[str, Any],
                    runtime: Runtime, tensors: dict[str, torch.Tensor] | None = None) -> None:
    """Commit a checkpoint of ``model``, ``opt``, ``tensors`` and the JSON-able ``meta`` (``tag``: e.g. the epoch)."""
    if runtime.is_main:
        _write(Path(root), tag, model, opt, meta, runtime, tensors or {})
    runtime.barrier()


def load_checkpoint(root: str | Path, model: nn.Module, opt: torch.optim.Optimizer, runtime: Runtime
                    ) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    """Restore ``model``, ``opt`` and the loss scaler from the committed checkpoint; returns ``(meta, tensors)``, or
    None when ``root`` holds none."""
    root = Path(root)
    if not (root / STATE).exists():
        return None
    meta = json.loads((root / STATE).read_text())
    folder = root / meta.pop("folder", "")  # checkpoints written before this format keep their files in root
    model.load_state_dict(load_file(str(folder / "model.safetensors"), device=str(runtime.device)))
    if (folder / "optim.safetensors").exists():
        load_optimizer_tensors(opt, load_file(str(folder / "optim.safetensors")), "optim")
    else:  # the earlier format: torch.save of the state dict (tensors and plain containers, loaded without pickle)
        opt.load_state_dict(torch.load(folder / "optim.pt", map_location=runtime.device, weights_only=True))
    if meta.get("scaler"):
        runtime.scaler.load_state_dict(meta["scaler"])
    extra = folder / "tensors.safetensors"
    return meta, load_file(str(extra)) if extra.exists() else {}


def optimizer_tensors(opt: torch.optim.Optimizer, prefix: str) -> dict[str, torch.Tensor]:
    """The optimiser's per-parameter state as flat ``<prefix>.<param index>.<key>`` tensors (hyperparameters stay
    with the live optimiser, which is rebuilt from the config)."""
    out = {}
    for index, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            out[f"{prefix}.{index}.{key}"] = torch.as_tensor(value).detach().cpu().clone().contiguous()
    return out


def load_optimizer_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    """Inverse of :func:`optimizer_tensors` (torch moves the state to the parameters' device)."""
    state_dict = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    state_dict["state"] = state
    opt.load_state_dict(state_dict)


def _write(root: Path, tag: int, model: nn.Module, opt: torch.optim.Optimizer, meta: dict[str, Any],
           runtime: Runtime, tensors: dict[str, torch.Tensor]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    committed = json.loads((root / STATE).read_text()).get("folder") if (root / STATE).exists() else None
    name = f"ckpt_{tag:010d}"
    name = name + "b" if name == committed else name  # a second checkpoint at the same tag never overwrites the first
    folder = root / name
    shutil.rmtree(folder, ignore_errors=True)  # an uncommitted leftover of a killed save
    folder.mkdir()
    files = {"model.safetensors": model.state_dict(), "optim.safetensors": optimizer_tensors(opt, "optim"),
             "tensors.safetensors": tensors}
    for file, content in files.items():
        atomic_write(folder / file, save({k: v.detach().contiguous().cpu() for k, v in content.items()}))
    # The commit point: state.json names the new folder, whose files are all on disk by now.
    atomic_write(root / STATE, json.dumps({**meta, "scaler": runtime.scaler.state_dict(), "folder": name}))
    for old in root.glob("ckpt_*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    for legacy in ("model.safetensors", "optim.pt"):  # files of an earlier-format checkpoint this one replaces
        (root / legacy).unlink(missing_ok=True)

