import json

import pytest
import torch

from vidsteal.data.embedded import make_split
from vidsteal.models import create_model
from vidsteal.train.loop import Callback, OptimConfig, fit, supervised_loss
from vidsteal.train.supervised import SupervisedConfig, train_supervised


class Crash(Callback):
    """Simulates a kill: raises at the end of a given epoch, after its checkpoint would not yet exist."""

    def __init__(self, at_epoch: int) -> None:
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, model, logs):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_after_crash_matches_uninterrupted_run(tiny_bench, tmp_path):
    data = make_split(tiny_bench, "train", 48)
    cfg = OptimConfig(epochs=3, batch_size=16, lr=1e-2)

    torch.manual_seed(0)
    ref = create_model("test_c3d", num_classes=6)
    fit(ref, data, supervised_loss(), cfg, seed=1)

    torch.manual_seed(0)
    model = create_model("test_c3d", num_classes=6)
    with pytest.raises(KeyboardInterrupt):
        fit(model, data, supervised_loss(), cfg, seed=1, ckpt_dir=tmp_path, callbacks=[Crash(at_epoch=2)])
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 1

    torch.manual_seed(123)  # a fresh process: different init, must be overwritten by the checkpoint
    resumed = create_model("test_c3d", num_classes=6)
    history = fit(resumed, data, supervised_loss(), cfg, seed=1, ckpt_dir=tmp_path)
    assert [h["epoch"] for h in history] == [0, 1, 2]
    for key, value in _state(ref).items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=1e-5, atol=1e-6)


def test_nan_loss_is_reported(tiny_bench):
    data = make_split(tiny_bench, "train", 16)

    def bad_loss(model, clips, target):
        return {"loss": model(clips).sum() * float("nan")}

    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(create_model("test_c3d", num_classes=6), data, bad_loss, OptimConfig(epochs=1, batch_size=8))


def test_train_supervised_learns_and_writes_run(tiny_bench, tmp_path):
    cfg = SupervisedConfig(arch="test_c3d", benchmark=tiny_bench, train_size=96, test_size=48,
                           optim=OptimConfig(epochs=2, batch_size=16))
    result = train_supervised(cfg, tmp_path)
    assert {"top1", "top5", "train_seconds"} <= result.keys() and 0 <= result["top1"] <= 1
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "config.yaml").exists()
    # A finished run is returned as is, not retrained.
    assert train_supervised(cfg, tmp_path) == json.loads((tmp_path / "metrics.json").read_text())


def test_train_frames_feeds_the_model_a_sorted_random_frame_subset_and_resumes_exactly(tiny_bench, tmp_path):
    data = make_split(tiny_bench, "train", 32)  # 4 frames per clip
    seen: list[int] = []

    def loss(model, clips, target):
        seen.append(clips.shape[2])
        return supervised_loss()(model, clips, target)

    cfg = OptimConfig(epochs=2, batch_size=16, train_frames=2)
    torch.manual_seed(0)
    ref = create_model("test_frame_cnn", num_classes=6)
    fit(ref, data, loss, cfg, seed=3)
    assert seen == [2] * 4
    torch.manual_seed(0)
    crashed = create_model("test_frame_cnn", num_classes=6)
    with pytest.raises(KeyboardInterrupt):
        fit(crashed, data, loss, cfg, seed=3, ckpt_dir=tmp_path, callbacks=[Crash(at_epoch=1)])
    resumed = create_model("test_frame_cnn", num_classes=6)
    fit(resumed, data, loss, cfg, seed=3, ckpt_dir=tmp_path)
    for key, value in _state(ref).items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("precision, dtype", [("32", torch.float32), ("bf16", torch.bfloat16)])
def test_optim_precision_sets_the_arithmetic_fit_trains_in(tiny_bench, precision, dtype):
    data = make_split(tiny_bench, "train", 16)
    seen = []

    def loss(model, clips, target):
        logits = model(clips)
        seen.append(logits.dtype)
        return {"loss": torch.nn.functional.cross_entropy(logits.float(), target)}

    fit(create_model("test_c3d", num_classes=6), data, loss, OptimConfig(epochs=1, batch_size=8, precision=precision))
    assert seen and set(seen) == {dtype}
