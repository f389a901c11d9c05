"""Zeroth-order gradient estimates from victim answers alone, shared by the embedding search and DFME.

Both estimators take a *batched* objective ``f: (M, *shape) -> (M,)`` so that every perturbed point of a step
goes to the victim in one batch; the caller's ``f`` pays the queries (through the oracle), so the cost is counted
where it happens, never by formula.

- :func:`forward_differences` (DFME, Truong et al. 2021): ``m`` random unit directions per point and one base
  evaluation, ``d/m * sum_j (f(x + eps u_j) - f(x)) / eps * u_j``. Cost: ``N * (m + 1)`` evaluations.
- :func:`antithetic_nes` (Wierstra et al. 2014; Ilyas et al. 2018): ``m`` Gaussian directions, evaluated at
  ``theta +- sigma u``, ``1/(2 m sigma) sum_j (f+ - f-) u_j``. Cost: ``2 N m`` evaluations; antithetic pairs
  cancel the objective's level, so no base evaluation is needed.
"""

from __future__ import annotations

from typing import Callable

import torch

Objective = Callable[[torch.Tensor], torch.Tensor]
GRID = 1 / 255  # the values an 8-bit clip can take: every paid clip is rounded to them


def unit_directions(n: int, m: int, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """``(n, m, *shape)`` Gaussian directions, each normalised to unit L2 norm over ``shape``."""
    u = torch.randn(n, m, *shape, generator=generator)
    return u / u.flatten(2).norm(dim=2).clamp(min=1e-12).view(n, m, *([1] * len(shape)))


def forward_differences(f: Objective, x: torch.Tensor, directions: int, eps: float,
                        generator: torch.Generator | None = None,
                        clamp: tuple[float, float] | None = (0.0, 1.0),
                        grid: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Estimate ``grad f`` at each row of ``x`` ``(N, *shape)``; returns ``(grad (N, *shape), f(x) (N,))``.

    With ``clamp`` the perturbed points are clipped to the valid range (victims take clips in [0, 1]), and the
    finite difference uses the step actually taken along ``u``, so clipped coordinates do not bias the estimate.
    With ``grid`` (:data:`GRID` for 8-bit victims) the base and every probe are rounded to multiples of it first,
    as the victim receives them, and again the step actually taken is used.
    """
    n, shape = x.shape[0], tuple(x.shape[1:])
    dim = x[0].numel()
    u = unit_directions(n, directions, shape, generator).to(x)
    snap = (lambda t: t) if grid is None else (lambda t: torch.round(t / grid) * grid)  # noqa: E731
    base = snap(x.detach()).unsqueeze(1)
    moved = base + eps * u
    if clamp is not None:
        moved = moved.clamp(*clamp)
    moved = snap(moved)
    u_eff = (moved - base) / eps  # equals u where nothing was clipped or rounded
    values = f(torch.cat([base.squeeze(1), moved.flatten(0, 1)]))
    f0, fu = values[:n], values[n:].view(n, directions)
    slopes = (fu - f0.unsqueeze(1)) / eps
    grad = dim / directions * (slopes.view(n, directions, *([1] * len(shape))) * u_eff).sum(1)
    return grad, f0


def antithetic_nes(f: Objective, theta: torch.Tensor, directions: int, sigma: float,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Estimate ``grad f`` at each row of ``theta`` ``(N, D)``; returns ``(grad (N, D), values (N, 2m))``.

    ``values`` are the objective at ``theta + sigma u_j`` (first ``m``) and ``theta - sigma u_j`` (last ``m``),
    in case the caller wants the level (e.g. a confidence) as well as the slope.
    """
    n, d = theta.shape
    u = torch.randn(n, directions, d, generator=generator).to(theta)
    points = torch.cat([theta.unsqueeze(1) + sigma * u, theta.unsqueeze(1) - sigma * u], dim=1)  # (n, 2m, d)
    values = f(points.reshape(n * 2 * directions, d)).view(n, 2 * directions)
    diff = values[:, :directions] - values[:, directions:]
    grad = (diff.unsqueeze(2) * u).sum(1) / (2 * directions * sigma)
    return grad, values


class Adam:
    """Adam on a plain tensor (per-row state), for parameters updated from estimated gradients.

    Kept tiny and explicit so its state is a pair of tensors that checkpoints to safetensors.
    """

    def __init__(self, shape: tuple[int, ...], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = torch.zeros(shape)
        self.v = torch.zeros(shape)
        self.t = torch.zeros(shape[0])

    def step(self, param: torch.Tensor, grad: torch.Tensor, rows: torch.Tensor | None = None,
             maximize: bool = True) -> None:
        """Update ``param[rows]`` in place with ``grad`` (rows of the same selection)."""
        rows = torch.arange(param.shape[0]) if rows is None else rows
        g = grad if maximize else -grad
        b1, b2 = self.betas
        self.t[rows] += 1
        self.m[rows] = b1 * self.m[rows] + (1 - b1) * g
        self.v[rows] = b2 * self.v[rows] + (1 - b2) * g * g
        t = self.t[rows].view(-1, *([1] * (g.ndim - 1)))
        m_hat = self.m[rows] / (1 - b1**t)
        v_hat = self.v[rows] / (1 - b2**t)
        param[rows] += self.lr * m_hat / (v_hat.sqrt() + self.eps)

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        return {f"{prefix}.m": self.m, f"{prefix}.v": self.v, f"{prefix}.t": self.t}

    def load(self, tensors: dict[str, torch.Tensor], prefix: str) -> None:
        self.m, self.v, self.t = tensors[f"{prefix}.m"], tensors[f"{prefix}.v"], tensors[f"{prefix}.t"]
