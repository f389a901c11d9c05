"""The Shapiro-Wilk normality test, for PRADA (:mod:`vidsteal.victims.defences`) without a scipy dependency."""

from __future__ import annotations

import math
from typing import Sequence

import torch


def shapiro_wilk(x: Sequence[float] | torch.Tensor) -> tuple[float, float]:
    """Shapiro-Wilk ``(W, p)`` by Royston's approximation (AS R94), valid for ``3 <= n <= 5000``.

    Written out here so the detector needs no scipy; it matches ``scipy.stats.shapiro`` to ~1e-6. Constant data
    has no defined W; like scipy we return ``(1.0, 1.0)``.
    """
    x = torch.as_tensor(x, dtype=torch.float64).flatten().sort().values
    n = x.numel()
    if n < 3:
        raise ValueError(f"Shapiro-Wilk needs at least 3 values, got {n}")
    if n > 5000:
        raise ValueError(f"Shapiro-Wilk approximation holds for n <= 5000, got {n}")
    if float(x[-1] - x[0]) <= 1e-12 * max(1.0, float(x.abs().max())):
        return 1.0, 1.0
    i = torch.arange(1, n + 1, dtype=torch.float64)
    m = torch.special.ndtri((i - 0.375) / (n + 0.25))
    if n == 3:
        a = torch.tensor([-math.sqrt(0.5), 0.0, math.sqrt(0.5)], dtype=torch.float64)
    else:
        u = 1.0 / math.sqrt(n)
        mm = float((m * m).sum())
        an = float(m[-1]) / math.sqrt(mm) + _poly((0.221157, -0.147981, -2.071190, 4.434685, -2.706056), u)
        if n > 5:
            an1 = float(m[-2]) / math.sqrt(mm) + _poly((0.042981, -0.293762, -1.752461, 5.682633, -3.582633), u)
            phi = (mm - 2 * float(m[-1]) ** 2 - 2 * float(m[-2]) ** 2) / (1 - 2 * an**2 - 2 * an1**2)
            a = m / math.sqrt(phi)
            a[-1], a[-2], a[0], a[1] = an, an1, -an, -an1
        else:
            phi = (mm - 2 * float(m[-1]) ** 2) / (1 - 2 * an**2)
            a = m / math.sqrt(phi)
            a[-1], a[0] = an, -an
    w = float((a * x).sum() ** 2 / ((x - x.mean()) ** 2).sum())
    w = min(w, 1.0)
    return w, _shapiro_p(w, n)


def _poly(coeffs: Sequence[float], u: float) -> float:
    """``c1 u + c2 u^2 + ...`` (Royston's corrections have no constant term)."""
    return sum(c * u ** (k + 1) for k, c in enumerate(coeffs))


def _shapiro_p(w: float, n: int) -> float:
    if n == 3:
        return max(0.0, min(1.0, 6 / math.pi * (math.asin(math.sqrt(w)) - math.asin(math.sqrt(0.75)))))
    if w >= 1.0:
        return 1.0
    if n <= 11:
        gamma = 0.459 * n - 2.273
        mu = 0.5440 - 0.39978 * n + 0.025054 * n**2 - 0.0006714 * n**3
        sigma = math.exp(1.3822 - 0.77857 * n + 0.062767 * n**2 - 0.0020322 * n**3)
        inner = gamma - math.log1p(-w)
        if inner <= 0:
            return 0.0
        z = (-math.log(inner) - mu) / sigma
    else:
        ln = math.log(n)
        mu = -1.5861 - 0.31082 * ln - 0.083751 * ln**2 + 0.0038915 * ln**3
        sigma = math.exp(-0.4803 - 0.082676 * ln + 0.0030302 * ln**2)
        z = (math.log1p(-w) - mu) / sigma
    return 0.5 * math.erfc(z / math.sqrt(2))
