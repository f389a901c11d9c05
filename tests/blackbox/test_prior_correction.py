"""A black-box run corrects its finished student for the transfer set's class prior, and reports the ablation."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from vidsteal.attacks.blackbox.online import OnlineDistillConfig
from vidsteal.distill.label_shift import prior_shift, transfer_prior
from vidsteal.pipeline.blackbox import run_blackbox
from vidsteal.victims.ledger import QueryLedger


@pytest.mark.parametrize("method", ["noise", "embeddings"])
def test_the_corrected_student_is_the_uncorrected_one_with_its_logits_shifted(make_job, tmp_path, method):
    plain = run_blackbox(make_job(method, 160, distill={"prior_correction": 0.0}), tmp_path / "plain")
    fixed = run_blackbox(make_job(method, 160, distill={"prior_correction": 0.75}), tmp_path / "fixed")
    assert plain["metrics"]["prior_correction"] is None
    report = fixed["metrics"]["prior_correction"]
    assert report["tau"] == 0.75 and report["shift_max"] > 0 > report["shift_min"]
    # the same queries and student until the correction: the ablation is the uncorrected run
    for key in ("top1", "top5", "agreement"):
        assert report[f"{key}_uncorrected"] == pytest.approx(plain["metrics"][key])
    a, b = (load_file(str(tmp_path / name / "student.safetensors")) for name in ("plain", "fixed"))
    changed = [k for k in a if not torch.equal(a[k], b[k])]
    assert changed == ["head.bias"]
    with QueryLedger(tmp_path / "fixed" / "queries") as ledger:
        probs = torch.cat([answers.probs for _, answers in ledger.replay(batch_size=512)])
    expected = prior_shift(transfer_prior(probs / probs.sum(1, keepdim=True)), 0.75)
    torch.testing.assert_close(b["head.bias"] - a["head.bias"], expected, atol=1e-5, rtol=1e-4)


def test_run_configs_saved_before_the_correction_read_as_uncorrected():
    saved = OnlineDistillConfig().model_dump()
    saved.pop("prior_correction")
    assert OnlineDistillConfig.model_validate(saved).prior_correction == 0.0


def test_a_student_the_correction_cannot_shift_is_refused_before_any_query(victim_path, tmp_path):
    from torch import nn

    from vidsteal.attacks.base import AttackContext
    from vidsteal.attacks.registry import create_attack
    from vidsteal.victims import LocalOracle, LoggedOracle, QueryBudget

    student = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 16 * 16, 6), nn.Softmax(dim=1))  # probabilities out
    weights = {k: v.clone() for k, v in student.state_dict().items()}
    attack = create_attack("noise", {"budget": 64, "frames": 4, "size": 16, "batch": 32})
    oracle = LoggedOracle(LocalOracle.from_file(victim_path), tmp_path / "queries", QueryBudget(64))
    with oracle, pytest.raises(ValueError, match="set distill.prior_correction to 0"):
        attack.run(oracle, student, AttackContext(tmp_path))
    assert oracle.paid == 0
    assert all(torch.equal(v, student.state_dict()[k]) for k, v in weights.items())  # left as it was
    uncorrected = create_attack("noise", {"budget": 64, "frames": 4, "size": 16, "batch": 32,
                                          "distill": {"prior_correction": 0.0, "final_epochs": 0.5}})
    with LoggedOracle(LocalOracle.from_file(victim_path), tmp_path / "q2", QueryBudget(64)) as oracle:
        assert uncorrected.run(oracle, student, AttackContext(tmp_path / "off")).queries == 64
