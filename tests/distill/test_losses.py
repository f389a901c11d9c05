import pytest
import torch

from vidsteal.distill.losses import distill_loss, kd_loss, l1_logits_loss, soft_targets
from vidsteal.victims.outputs import OutputKind, OutputMode, apply_output_mode

PROBS = torch.tensor([[0.6, 0.25, 0.1, 0.05], [0.1, 0.2, 0.3, 0.4]])


@pytest.mark.parametrize("kind", list(OutputKind))
def test_targets_are_distributions_with_the_victims_top1(kind):
    answers = apply_output_mode(PROBS, OutputMode(kind=kind, k=2, decimals=1))
    targets = soft_targets(answers, 4)
    torch.testing.assert_close(targets.sum(1), torch.ones(2))
    assert (targets >= 0).all()
    assert targets.argmax(1).tolist() == [0, 3]


def test_full_probs_pass_through_and_topk_spreads_hidden_mass():
    full = soft_targets(apply_output_mode(PROBS, OutputMode(kind="probs")), 4)
    torch.testing.assert_close(full, PROBS)
    topk = soft_targets(apply_output_mode(PROBS, OutputMode(kind="topk_probs", k=2)), 4)
    torch.testing.assert_close(topk[0], torch.tensor([0.6, 0.25, 0.075, 0.075]))


def test_label_mode_kd_equals_cross_entropy():
    logits = torch.randn(2, 4)
    targets = soft_targets(apply_output_mode(PROBS, OutputMode(kind="label")), 4)
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3]))
    torch.testing.assert_close(kd_loss(logits, targets), ce)
    torch.testing.assert_close(distill_loss(logits, targets, "ce"), ce)


def test_kd_is_zero_when_student_matches():
    logits = torch.log(PROBS)
    assert kd_loss(logits, PROBS, temperature=3.0).abs() < 1e-5
    assert distill_loss(logits, PROBS, "l1_logits").abs() < 1e-5


def test_per_clip_l1_is_dfmes_disagreement_and_averages_to_the_loss():
    logits, targets = torch.randn(3, 4), torch.softmax(torch.randn(3, 4), 1)
    per_clip = l1_logits_loss(logits, targets, per_clip=True)
    assert per_clip.shape == (3,) and (per_clip >= 0).all()
    torch.testing.assert_close(per_clip.mean(), l1_logits_loss(logits, targets))
    assert l1_logits_loss(torch.log(targets) + 5.0, targets, per_clip=True).abs().max() < 1e-5  # shift-invariant
