"""Label-shift correction of a distilled student: it should not inherit the transfer set's class prior.

A student distilled on clips that are not the victim's own data learns ``p(y | x)`` under the *transfer set's*
class prior ``pi`` (the victim's mean answer over the paid clips), which for synthetic clips is far from the
victim's real one: on the embedded benchmark a few classes take most answers, and a class the victim gives for
under 1% of the synthetic clips is one the student then never predicts, however well it learnt the rest. Bayes'
rule under label shift turns a posterior for prior ``pi`` into one for a uniform prior by subtracting ``log pi``
from the logits (Saerens, Latinne & Decaestecker 2002; the post-hoc logit adjustment of Menon et al. 2021).
The synthetic clips also differ from real ones within each class, so the exponent ``tau`` (1 = pure label shift)
is chosen on the validation split, and the uniform prior assumes a victim trained on roughly balanced classes
(Kinetics is). The correction is a bias on the student's last linear layer, so the stolen model stays a plain
file of its own architecture; it costs no query.
"""

from __future__ import annotations

import torch
from torch import nn


def transfer_prior(targets: torch.Tensor, pseudo_count: float = 1.0) -> torch.Tensor:
    """The transfer set's class prior: the mean target distribution over the paid clips (``(N, K)`` rows that
    sum to 1), with ``pseudo_count`` clips' worth of a uniform answer mixed in, so a class no answer named (label-only
    victims) gets a finite correction."""
    n, k = targets.shape
    return (targets.float().sum(0) + pseudo_count / k) / (n + pseudo_count)


def prior_shift(prior: torch.Tensor, tau: float) -> torch.Tensor:
    """The logit shift that moves a posterior learnt under ``prior`` toward a uniform prior: ``-tau log(K pi)``
    (zero for a uniform ``prior``)."""
    return -tau * torch.log(prior * prior.numel())


def logit_layer(model: nn.Module, num_classes: int) -> nn.Linear:
    """The student's last linear layer with ``num_classes`` outputs and a bias: the one whose bias shifts its logits."""
    found = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == num_classes
             and m.bias is not None]
    if not found:
        raise ValueError(f"{type(model).__name__} has no linear layer with {num_classes} outputs and a bias to correct "
                         "(set distill.prior_correction to 0)")
    return found[-1]


@torch.no_grad()
def shift_logits(model: nn.Module, shift: torch.Tensor, probe: torch.Tensor) -> None:
    """Add ``shift`` to every logit of ``model`` through its logit layer's bias, and check on ``probe`` inputs that
    the logits moved by exactly that (a head that is not the model's last affine step fails the check and is left
    as it was)."""
    layer = logit_layer(model, shift.numel())
    bias = layer.bias.detach().clone()
    was = model.training
    model.eval()
    before = model(probe).float()
    layer.bias += shift.to(layer.bias)
    moved = model(probe).float() - before
    model.train(was)
    if not torch.allclose(moved, shift.expand_as(moved).to(moved), atol=1e-3 + 1e-3 * float(shift.abs().max())):
        layer.bias.copy_(bias)
        raise ValueError(f"{type(model).__name__}'s logits are not an affine function of its last linear layer's "
                         "bias: the prior correction cannot be applied to it (set distill.prior_correction to 0)")


@torch.no_grad()
def check_correctable(model: nn.Module, num_classes: int, probe: torch.Tensor) -> None:
    """Raise the error :func:`shift_logits` would raise at the end of a run, now (before any query is paid); the
    model is left bit for bit as it was."""
    layer = logit_layer(model, num_classes)
    bias = layer.bias.detach().clone()
    try:
        shift_logits(model, torch.linspace(-1, 1, num_classes), probe)
    finally:
        layer.bias.copy_(bias)
