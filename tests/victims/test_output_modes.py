"""Output modes reveal exactly what they promise, in-process (the server runs the same function)."""

from __future__ import annotations

import pytest
import torch

from vidsteal.victims import OutputKind, OutputMode, apply_output_mode


@pytest.fixture
def probs() -> torch.Tensor:
    return torch.softmax(torch.randn(16, 10, generator=torch.Generator().manual_seed(3)), dim=1)


def test_probs_mode_keeps_everything(probs):
    out = apply_output_mode(probs, OutputMode(kind="probs", k=3))
    assert torch.equal(out.probs, probs)
    assert torch.equal(out.labels, probs.argsort(dim=1, descending=True)[:, :3])


def test_topk_probs_keeps_k_entries(probs):
    out = apply_output_mode(probs, OutputMode(kind="topk_probs", k=3))
    assert ((out.probs > 0).sum(dim=1) == 3).all()
    top = probs.topk(3, dim=1)
    assert torch.equal(out.labels, top.indices)
    assert torch.equal(out.probs.gather(1, out.labels), top.values)


def test_topk_labels_reveals_no_scores(probs):
    out = apply_output_mode(probs, OutputMode(kind="topk_labels", k=4))
    assert out.probs is None and out.labels.shape == (16, 4)
    assert torch.equal(out.labels, probs.topk(4, dim=1).indices)


def test_label_mode_is_top1_only(probs):
    out = apply_output_mode(probs, OutputMode(kind="label", k=7))
    assert out.probs is None and out.labels.shape == (16, 1)
    assert torch.equal(out.top1, probs.argmax(dim=1))


@pytest.mark.parametrize("decimals", [0, 1, 2, 4])
def test_rounded_mode_rounds(probs, decimals):
    out = apply_output_mode(probs, OutputMode(kind="rounded", decimals=decimals))
    scaled = out.probs * 10**decimals
    assert torch.allclose(scaled, scaled.round(), atol=1e-3)
    assert (out.probs - probs).abs().max() <= 0.5 * 10**-decimals + 1e-6
    assert torch.equal(out.top1, probs.argmax(dim=1))  # rank comes from the exact scores, not the rounded ones


def test_k_larger_than_classes_is_clipped(probs):
    out = apply_output_mode(probs, OutputMode(kind="topk_probs", k=50))
    assert out.labels.shape == (16, 10) and torch.equal(out.probs, probs)


@pytest.mark.parametrize("kind", list(OutputKind))
def test_local_victim_applies_mode(kind, make_victim, make_clips):
    mode = OutputMode(kind=kind, k=2)
    answers = make_victim(mode).query(make_clips(4, 1))
    full = make_victim().query(make_clips(4, 1))
    assert answers.mode == mode
    assert torch.equal(answers.top1, full.top1)
    assert (answers.probs is None) == (not mode.has_scores)
    if kind == OutputKind.topk_probs:
        assert ((answers.probs > 0).sum(dim=1) <= 2).all()
