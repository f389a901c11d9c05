"""The online student trains through the shared stack: the Runtime's step (accumulation, autocast, the loss check)."""

from __future__ import annotations

import pytest
import torch

from vidsteal.attacks.base import AttackContext
from vidsteal.attacks.blackbox import online
from vidsteal.attacks.blackbox.online import OnlineDistillConfig, OnlineStudent
from vidsteal.attacks.blackbox.replay import ReplayBuffer
from vidsteal.attacks.registry import create_attack
from vidsteal.models import create_model
from vidsteal.train.distributed import Runtime
from vidsteal.victims import LocalOracle, LoggedOracle, QueryBudget


def _buffer() -> ReplayBuffer:
    g = torch.Generator().manual_seed(0)
    buffer = ReplayBuffer(6)
    buffer.add(torch.rand(40, 3, 4, 32, 32, generator=g), torch.softmax(torch.randn(40, 6, generator=g), 1))
    return buffer


def _trained(runtime: Runtime | None, steps: int = 4, budget: int | None = None, **cfg) -> OnlineStudent:
    torch.manual_seed(0)  # a toy ViT: no BatchNorm, so micro-batches cannot differ by batch statistics
    student = OnlineStudent(create_model("test_vit_tiny_frame", num_classes=6),
                            OnlineDistillConfig(batch_size=12, **cfg), "kd", seed=1, runtime=runtime, budget=budget)
    student.train(_buffer(), steps)
    return student


def test_accumulation_gives_the_same_student_as_whole_batches():
    whole = _trained(None, train_frames=2, precision="32")
    accumulated = _trained(Runtime("cpu", precision="32", accumulate=3), train_frames=2)
    assert accumulated.steps == whole.steps == 4
    for key, value in whole.model.state_dict().items():
        torch.testing.assert_close(accumulated.model.state_dict()[key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_bf16_autocast_trains_the_online_student_on_cpu():
    student = _trained(Runtime("cpu", precision="bf16"))  # the step raises if the loss is not finite
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in student.model.parameters())
    assert student.probs(torch.rand(3, 3, 4, 32, 32)).sum(1).allclose(torch.ones(3))


def test_mixed_scoring_runs_the_forward_in_the_training_precision_and_plain_scoring_in_32_bits():
    student = _trained(Runtime("cpu", precision="bf16"), steps=1)
    seen = []
    student.model.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    clips = torch.rand(5, 3, 4, 32, 32)
    plain, mixed = student.probs(clips), student.probs(clips, mixed=True)
    assert seen == [torch.float32, torch.bfloat16]  # DFME's finite differences need the first, selection ranks
    assert mixed.dtype == torch.float32 and mixed.sum(1).allclose(torch.ones(5))
    torch.testing.assert_close(mixed, plain, atol=0.05, rtol=0)  # the same answers up to bf16 rounding
    assert torch.equal(_trained(Runtime("cpu", precision="32"), steps=1).probs(clips, mixed=True),
                       _trained(Runtime("cpu", precision="32"), steps=1).probs(clips))  # 32 bits: no-op


@pytest.mark.parametrize("precision", ["32", "bf16", "auto"])
def test_distill_precision_picks_the_default_runtime(precision):
    from vidsteal.train.precision import native_bf16

    student = _trained(None, steps=1, precision=precision)
    bf16 = precision == "bf16" or (precision == "auto" and native_bf16("cpu"))
    assert student.runtime.amp_dtype == (torch.bfloat16 if bf16 else None)
    given = Runtime("cpu", precision="32")  # a context's Runtime wins over the config
    assert OnlineStudent(student.model, OnlineDistillConfig(precision="bf16"), "kd", 0, given).runtime is given


def test_a_non_finite_student_loss_is_reported():
    student = _trained(None, steps=0)
    with torch.no_grad():
        next(student.model.parameters()).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"student step 0 \(distill.lr\); lower the learning rate"):
        student.train(_buffer(), 1)


class CountingRuntime(Runtime):
    def __init__(self, **kwargs) -> None:
        super().__init__("cpu", **kwargs)
        self.calls = 0

    def train_step(self, *args, **kwargs):
        self.calls += 1
        return super().train_step(*args, **kwargs)


def test_the_attack_contexts_runtime_trains_the_black_box_student(victim_path, tmp_path):
    runtime = CountingRuntime(precision="bf16", accumulate=2)
    attack = create_attack("noise", {"budget": 96, "frames": 4, "size": 16, "batch": 32, "chunk": 64,
                                     "distill": {"eval_every": 64, "final_epochs": 1.0, "batch_size": 16}})
    oracle = LoggedOracle(LocalOracle.from_file(victim_path), tmp_path / "queries", QueryBudget(96))
    with oracle:
        result = attack.run(oracle, create_model("test_frame_cnn", 6), AttackContext(tmp_path, runtime=runtime))
    during = 96 * 4 // 16  # replay_ratio 4: 24 steps while querying, then one pass over the 96 buffered clips
    assert runtime.calls == during + 96 // 16 == 30
    assert result.queries == 96 and (tmp_path / "state" / "state.json").exists()


def _lrs(anneal: str, budget: int | None = 40) -> list[float]:
    """The learning rate of every step of a run: 40 queries paid in two chunks, then the final epochs."""
    torch.manual_seed(0)
    cfg = OnlineDistillConfig(batch_size=10, replay_ratio=2, final_epochs=1, lr=1e-2, anneal=anneal, precision="32")
    student = OnlineStudent(create_model("test_vit_tiny_frame", num_classes=6), cfg, "kd", seed=1, budget=budget)
    seen: list[float] = []
    step = student.opt.step
    student.opt.step = lambda *a, **k: (seen.append(student.opt.param_groups[0]["lr"]), step(*a, **k))[1]
    buffer, g = ReplayBuffer(6), torch.Generator().manual_seed(0)
    for _ in range(2):
        buffer.add(torch.rand(20, 3, 4, 32, 32, generator=g), torch.softmax(torch.randn(20, 6, generator=g), 1))
        student.train(buffer, student.owe(20))
    student.finish(buffer)
    return seen


def test_the_student_anneals_over_the_final_epochs_or_over_the_whole_budget():
    final, run = _lrs("final"), _lrs("run")
    assert len(final) == len(run) == 8 + 4  # 2 clip-steps per query over 40 queries, then one pass of 40 clips
    assert final[:8] == [1e-2] * 8 and final[8] == 1e-2 and final[-1] < 1e-2 / 2  # constant, then its own cosine
    assert run[0] == 1e-2 and all(a > b for a, b in zip(run, run[1:])) and run[-1] < 1e-3  # one cosine to ~0
    assert run[8] < 1e-2 / 2  # the final epochs carry on where querying left the curve
    with pytest.raises(ValueError, match="budget"):
        _lrs("run", budget=None)


def test_student_side_shift_changes_training_only_when_asked():
    plain, again = _trained(None, precision="32"), _trained(None, precision="32", shift=0.0)
    shifted = _trained(None, precision="32", shift=0.125)
    for key, value in plain.model.state_dict().items():
        assert torch.equal(again.model.state_dict()[key], value), key  # shift 0 is the old student, bit for bit
    assert any(not torch.equal(shifted.model.state_dict()[k], v) for k, v in plain.model.state_dict().items())
    with pytest.raises(ValueError):
        OnlineDistillConfig(shift=0.5)  # a shift of half the frame would leave mostly border


def _final_temperatures(monkeypatch, **cfg) -> list[float]:
    """The KD temperature of every final-phase step, as the student builds its loss for that step."""
    student = _trained(None, steps=0, precision="32", final_epochs=1.5, **cfg)
    seen: list[float] = []
    real = online.distill_loss_fn
    monkeypatch.setattr(online, "distill_loss_fn", lambda loss, t: seen.append(t) or real(loss, t))
    student.finish(_buffer())
    return seen


def test_the_final_phase_takes_its_own_temperature_at_once_or_along_the_cosine(monkeypatch):
    assert _final_temperatures(monkeypatch, temperature=8.0) == [8.0] * 5  # 1.5 passes over 40 clips, batch 12
    assert _final_temperatures(monkeypatch, temperature=8.0, final_temperature=1.0) == [1.0] * 5
    annealed = _final_temperatures(monkeypatch, temperature=8.0, final_temperature=1.0, temperature_anneal=True)
    assert annealed[0] == 8.0 and all(a > b for a, b in zip(annealed, annealed[1:])) and 1.0 < annealed[-1] < 2.0
    # anneal=run: the final phase is the run's cosine carried on, at final_temperature
    assert _final_temperatures(monkeypatch, temperature=8.0, final_temperature=1.0, temperature_anneal=True,
                               anneal="run", budget=40) == [1.0]
    # the step's temperature changes the student: T = 1 in the final phase is not T = 8's student
    soft = _trained(None, steps=0, precision="32", final_epochs=1.5, temperature=8.0)
    hard = _trained(None, steps=0, precision="32", final_epochs=1.5, temperature=8.0, final_temperature=1.0)
    soft.finish(_buffer())
    hard.finish(_buffer())
    assert any(not torch.equal(hard.model.state_dict()[k], v) for k, v in soft.model.state_dict().items())
