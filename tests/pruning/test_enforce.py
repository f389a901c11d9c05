"""Masks stay enforced while training: pruned weights are exactly zero after every optimiser step."""

import pytest
import torch

from vidsteal.data.embedded import make_split
from vidsteal.models import create_model
from vidsteal.pruning import Mask, MaskedTraining, PruningConfig, SnapshotAt, model_sparsity, prune
from vidsteal.train.loop import Callback, OptimConfig, fit, supervised_loss


class ZerosAfterEveryStep(Callback):
    def __init__(self, mask):
        self.mask, self.steps = mask, 0

    def after_optimizer_step(self, model):
        params = dict(model.named_parameters())
        for name, m in self.mask.items():
            assert (params[name].detach()[~m] == 0).all()
            assert params[name].grad is None or (params[name].grad[~m] == 0).all()
        self.steps += 1


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_pruned_weights_stay_zero_through_fit(tiny_bench, optimizer):
    data = make_split(tiny_bench, "train", 32)
    model = create_model("test_c3d", num_classes=6)
    mask = prune(model, Mask.ones(model), PruningConfig(fraction=0.5))
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    check = ZerosAfterEveryStep(mask)
    cfg = OptimConfig(epochs=2, batch_size=16, lr=0.05, weight_decay=0.1, optimizer=optimizer)
    with MaskedTraining(model, mask) as enforce:
        fit(model, data, supervised_loss(), cfg, callbacks=[enforce, check])  # enforce runs first, check after
    assert check.steps == 4
    params = dict(model.named_parameters())
    for name, m in mask.items():
        assert not torch.equal(params[name][m], before[name][m])  # survivors did train
    assert model_sparsity(model) >= mask.sparsity * mask.numel / sum(p.numel() for p in model.parameters())


def test_without_enforcement_pruned_weights_regrow(tiny_bench):
    """Sanity check of the test above: AdamW moves zeroed weights unless the mask is enforced."""
    data = make_split(tiny_bench, "train", 16)
    model = create_model("test_c3d", num_classes=6)
    mask = prune(model, Mask.ones(model), PruningConfig(fraction=0.5))
    enforce = MaskedTraining(model, mask)
    enforce.remove()  # zeroed once, then left alone
    fit(model, data, supervised_loss(), OptimConfig(epochs=1, batch_size=16, lr=0.05))
    name = next(iter(mask))
    assert (dict(model.named_parameters())[name].detach()[~mask[name]] != 0).any()


def test_snapshot_keeps_the_weights_after_r_epochs(tiny_bench, tmp_path):
    data = make_split(tiny_bench, "train", 16)
    model = create_model("test_c3d", num_classes=6)
    seen = {}

    class Record(Callback):
        def on_epoch_end(self, epoch, model, logs):
            seen[epoch] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    fit(model, data, supervised_loss(), OptimConfig(epochs=3, batch_size=16),
        callbacks=[SnapshotAt(2, tmp_path / "epoch_2.safetensors"), Record()])
    from safetensors.torch import load_file

    snap = load_file(str(tmp_path / "epoch_2.safetensors"))
    assert all(torch.equal(snap[k], seen[1][k]) for k in snap)
    assert not all(torch.equal(snap[k], seen[2][k]) for k in snap)
