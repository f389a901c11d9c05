"""The label-shift correction: Bayes' rule on the logits, applied through the last linear layer's bias only."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vidsteal.distill.label_shift import prior_shift, shift_logits, transfer_prior
from vidsteal.models import create_model


def test_the_transfer_prior_is_the_mean_answer_and_a_uniform_prior_needs_no_shift():
    targets = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    torch.testing.assert_close(transfer_prior(targets, pseudo_count=0), torch.tensor([0.75, 0.25, 0.0]))
    assert transfer_prior(targets)[2] > 0  # a class nobody named gets a finite correction
    assert transfer_prior(targets).sum().item() == pytest.approx(1.0)
    assert torch.equal(prior_shift(torch.full((4,), 0.25), 0.8), torch.zeros(4))


def test_a_posterior_learnt_under_a_skewed_prior_becomes_the_uniform_prior_one():
    # logits = log p(x | y) + log pi: the student of the transfer set's prior; tau = 1 removes log pi exactly
    prior = torch.tensor([0.7, 0.2, 0.05, 0.05])
    likelihood = torch.randn(6, 4)
    head = nn.Linear(4, 4)
    with torch.no_grad():
        head.weight.copy_(torch.eye(4))
        head.bias.copy_(prior.log())
    shift_logits(head, prior_shift(prior, 1.0), torch.randn(2, 4))
    torch.testing.assert_close(head(likelihood), likelihood - math.log(4))
    assert torch.equal(head(likelihood).argmax(1), likelihood.argmax(1))


@pytest.mark.parametrize("arch", ["test_frame_cnn", "c3d_student", "test_vit_tiny_frame"])
def test_the_students_logits_move_by_the_shift_and_nothing_else(arch):
    torch.manual_seed(0)
    model = create_model(arch, num_classes=5).train()
    clips = torch.rand(3, 3, 8, 32, 32)
    model.eval()
    before = model(clips).detach()
    shift = torch.tensor([0.5, -1.0, 0.0, 2.0, -0.25])
    shift_logits(model.train(), shift, torch.rand(2, 3, 8, 32, 32))
    assert model.training  # the caller's mode is kept
    torch.testing.assert_close(model.eval()(clips).detach(), before + shift, atol=1e-4, rtol=1e-4)


def test_a_head_that_is_not_the_last_affine_step_is_refused_and_left_as_it_was():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))  # probabilities out: a bias shift is not a logit shift
    bias = model[0].bias.detach().clone()
    with pytest.raises(ValueError, match="not an affine function"):  # b + 1000 - 1000 != b in float: restored by copy
        shift_logits(model, torch.tensor([1000.0, 0.0, -0.3]), torch.randn(2, 4))
    assert torch.equal(model[0].bias.detach(), bias)
    with pytest.raises(ValueError, match="no linear layer with 7 outputs"):
        shift_logits(model, torch.zeros(7), torch.randn(2, 4))
