"""Helpers shared by the serve tests (fixtures live in conftest.py): test inputs, the KD loop, process control."""

from __future__ import annotations

import base64

import torch
from mlserver_support import MLSERVER_VENV, REPO, free_port, stop, wait_ready  # noqa: F401  (re-exported)

from vidsteal.models import create_model
from vidsteal.victims.base import Oracle

FRAMES, SIZE, CLASSES = 4, 16, 10
ALICE, BOB = "vs_alice-test-key", "vs_bob-test-key"


def clips(n: int, seed: int = 0) -> torch.Tensor:
    """Float clips in the victim's input shape."""
    return torch.rand(n, 3, FRAMES, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def encoded(x: "torch.Tensor") -> dict:
    """A /v1/query body carrying ``x`` as base64 (float32, or uint8 for uint8 tensors)."""
    dtype = "uint8" if x.dtype == torch.uint8 else "float32"
    data = base64.b64encode(x.contiguous().numpy().tobytes()).decode()
    return {"encoded": {"shape": list(x.shape), "dtype": dtype, "data": data}}


def distill(oracle: Oracle, steps: int = 3, batch: int = 6, seed: int = 0) -> list[float]:
    """A few SGD steps of a tiny student on the oracle's answers: the same code for every backend.

    Soft cross-entropy on revealed probabilities, or cross-entropy on top-1 labels when none are revealed.
    Returns the loss per step, which depends only on the answers, so backends can be compared exactly.
    """
    torch.manual_seed(seed)
    student = create_model("test_c3d", num_classes=oracle.num_classes)
    opt = torch.optim.SGD(student.parameters(), lr=0.5)
    g = torch.Generator().manual_seed(seed + 1)
    losses = []
    for _ in range(steps):
        x = torch.rand(batch, 3, FRAMES, SIZE, SIZE, generator=g)
        answers = oracle.query(x)
        logp = torch.log_softmax(student(x), dim=1)
        if answers.probs is not None:
            loss = -(answers.probs * logp).sum(dim=1).mean()
        else:
            loss = torch.nn.functional.nll_loss(logp, answers.top1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
