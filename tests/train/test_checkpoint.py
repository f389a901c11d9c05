"""The one checkpoint format: state.json is the commit point, so a save cut short leaves the previous checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import vidsteal.train.checkpoint as checkpoint
from vidsteal.runs import atomic_write
from vidsteal.train.checkpoint import load_checkpoint, load_optimizer_tensors, optimizer_tensors, save_checkpoint
from vidsteal.train.distributed import Runtime
from vidsteal.train.optim import make_optimizer

RT = Runtime("cpu", precision="32")


def _trained(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3), nn.Linear(3, 2))
    opt = make_optimizer(model, 1e-2, 0.1)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(5, 4)).square().mean().backward()
        opt.step()
    return model, opt


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_round_trip_restores_model_optimizer_tensors_and_meta_exactly(tmp_path):
    model, opt = _trained(0)
    save_checkpoint(tmp_path, 7, model, opt, {"epoch": 7}, RT, {"rng": torch.Generator().manual_seed(3).get_state()})
    fresh, fresh_opt = _trained(1)
    meta, tensors = load_checkpoint(tmp_path, fresh, fresh_opt, RT)
    assert meta["epoch"] == 7 and "folder" not in meta
    assert torch.equal(tensors["rng"], torch.Generator().manual_seed(3).get_state())
    assert _same(fresh, model)
    assert optimizer_tensors(fresh_opt, "o").keys() == optimizer_tensors(opt, "o").keys()
    for key, value in optimizer_tensors(opt, "o").items():
        assert torch.equal(optimizer_tensors(fresh_opt, "o")[key], value), key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_0000000007", "state.json"]


def test_a_save_cut_short_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    first, opt = _trained(0)
    save_checkpoint(tmp_path, 1, first, opt, {"epoch": 1}, RT)
    second, opt2 = _trained(1)
    calls = []

    def dies_on_the_second_file(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process is killed half-way through writing the new folder
        return atomic_write(path, data)

    monkeypatch.setattr(checkpoint, "atomic_write", dies_on_the_second_file)
    # Killed while saving the next checkpoint, and while saving one with the committed checkpoint's own tag.
    for tag in (2, 1):
        calls.clear()
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint(tmp_path, tag, second, opt2, {"epoch": tag}, RT)
        restored, restored_opt = _trained(2)
        meta, _ = load_checkpoint(tmp_path, restored, restored_opt, RT)
        assert meta["epoch"] == 1 and _same(restored, first)
    monkeypatch.undo()
    save_checkpoint(tmp_path, 1, second, opt2, {"epoch": 1, "again": True}, RT)
    meta, _ = load_checkpoint(tmp_path, restored, restored_opt, RT)
    assert meta["again"] and _same(restored, second)
    assert len(list(tmp_path.glob("ckpt_*"))) == 1  # older and half-written folders are gone


def test_checkpoints_of_the_earlier_layout_still_resume(tmp_path):
    """Before the shared format, fit wrote model.safetensors / optim.pt beside state.json."""
    model, opt = _trained(0)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "model.safetensors"))
    torch.save(opt.state_dict(), tmp_path / "optim.pt")
    (tmp_path / "state.json").write_text(json.dumps({"epoch": 4, "history": [], "scaler": {}}))
    fresh, fresh_opt = _trained(1)
    meta, tensors = load_checkpoint(tmp_path, fresh, fresh_opt, RT)
    assert meta["epoch"] == 4 and tensors == {} and _same(fresh, model)
    save_checkpoint(tmp_path, 5, fresh, fresh_opt, {"epoch": 5}, RT)  # the next save moves to the shared layout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_0000000005", "state.json"]


def test_optimizer_tensors_round_trip_and_no_checkpoint_means_none(tmp_path):
    _, opt = _trained(0)
    model, fresh = _trained(1)
    load_optimizer_tensors(fresh, optimizer_tensors(opt, "g"), "g")
    for key, value in optimizer_tensors(opt, "g").items():
        assert torch.equal(optimizer_tensors(fresh, "g")[key], value), key
    assert load_checkpoint(tmp_path / "empty", model, fresh, RT) is None
