"""Pruning strategies and the mask artifact: exact fractions, masks only shrink, the threshold separates."""

import pytest
import torch
from torch import nn

from vidsteal.pruning import (
    LayerSelection,
    Mask,
    PruningConfig,
    apply_mask,
    expected_sparsity,
    head_name,
    magnitude_threshold,
    prunable_names,
    prune,
    rounds_for,
)


def toy() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.Flatten(), nn.Linear(16, 64), nn.ReLU(),
                         nn.Linear(64, 300), nn.Linear(300, 10))


def test_prunable_layers_exclude_head_norms_and_biases():
    model = toy()
    assert head_name(model) == "6"
    assert prunable_names(model) == ["0.weight", "3.weight", "5.weight"]
    assert prunable_names(model, LayerSelection(kinds=("conv",))) == ["0.weight"]
    keep_head = LayerSelection(exclude_head=False, exclude=("3.*",))
    assert prunable_names(model, keep_head) == ["0.weight", "5.weight", "6.weight"]


@pytest.mark.parametrize("strategy", ["global_magnitude", "layer_magnitude", "layer_random"])
def test_sparsity_after_n_rounds_is_one_minus_keep_to_the_n(strategy):
    model = toy()
    cfg = PruningConfig(strategy=strategy, fraction=0.2)
    mask = Mask.ones(model)
    g = torch.Generator().manual_seed(0)
    for n in range(1, 8):
        kept_before = mask.num_kept
        new = prune(model, mask, cfg, g)
        # Exactly round(p * survivors) removed per scope (global: one scope; per layer: one per tensor).
        scopes = [mask.num_kept] if strategy == "global_magnitude" else [int(m.sum()) for _, m in mask.items()]
        assert kept_before - new.num_kept == sum(round(0.2 * s) for s in scopes)
        assert new.sparsity == pytest.approx(expected_sparsity(0.2, n), abs=n * len(scopes) / new.numel)
        assert new.is_within(mask)  # masks never grow
        assert not any(bool((new[k] & ~mask[k]).any()) for k in mask)
        apply_mask(model, new)
        mask = new


def test_global_threshold_separates_pruned_from_kept():
    model = toy()
    mask = Mask.ones(model)
    for _ in range(3):
        new = prune(model, mask, PruningConfig(fraction=0.3))
        params = dict(model.named_parameters())
        removed = torch.cat([params[k].detach().abs()[mask[k] & ~new[k]] for k in mask])
        kept = torch.cat([params[k].detach().abs()[new[k]] for k in mask])
        assert removed.max() <= kept.min()
        assert magnitude_threshold(model, mask, new) == pytest.approx(float(removed.max()))
        apply_mask(model, new)
        mask = new


def test_layer_magnitude_prunes_every_layer_alike():
    model = toy()
    mask = prune(model, Mask.ones(model), PruningConfig(strategy="layer_magnitude", fraction=0.5))
    for name, sparsity in mask.layer_sparsity().items():
        assert sparsity == pytest.approx(0.5, abs=1 / mask[name].numel())
        w = dict(model.named_parameters())[name].detach().abs()
        assert w[~mask[name]].max() <= w[mask[name]].min()


def test_mask_artifact_round_trip_and_random_control(tmp_path):
    model = toy()
    mask = prune(model, Mask.ones(model), PruningConfig(fraction=0.6))
    path = mask.save(tmp_path / "mask.safetensors", level=1)
    loaded = Mask.load(path)
    assert loaded == mask and all(m.dtype == torch.bool for _, m in loaded.items())
    summary = Mask.read_summary(path)
    assert summary["level"] == 1 and summary["sparsity"] == pytest.approx(mask.sparsity)
    assert summary["layers"].keys() == set(mask)
    control = mask.random_like(seed=3)
    assert control != mask and control.layer_sparsity() == mask.layer_sparsity()


def test_foreign_file_and_wrong_model_are_rejected(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.ones(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a vidsteal mask"):
        Mask.load(tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="does not have"):
        Mask({"nope.weight": torch.ones(3)}).check_model(toy())


def test_rounds_for_target():
    assert rounds_for(0.8, 0.2) == 8 and expected_sparsity(0.2, 8) >= 0.8 > expected_sparsity(0.2, 7)
    assert rounds_for(0.36, 0.2) == 2 and rounds_for(0.0, 0.2) == 0
