"""The zeroth-order estimators point along the true gradient and cost exactly what their docstrings say."""

from __future__ import annotations

import torch

from vidsteal.attacks.blackbox.zeroth_order import GRID, antithetic_nes, forward_differences


def _quadratic(calls: list[int]):
    target = torch.linspace(-1, 1, 12)

    def f(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        return -((x.flatten(1) - target) ** 2).sum(1)

    return f, target


def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1))


def test_forward_differences_estimate_and_cost():
    calls: list[int] = []
    f, target = _quadratic(calls)
    x = torch.rand(3, 12, generator=torch.Generator().manual_seed(0)) * 0.5
    grad, f0 = forward_differences(f, x, directions=200, eps=1e-3, generator=torch.Generator().manual_seed(1),
                                   clamp=None)
    assert sum(calls) == 3 * (200 + 1)
    assert (_cos(grad, -2 * (x - target)) > 0.8).all()
    assert torch.allclose(f0, f(x))


def test_antithetic_nes_estimate_and_cost():
    calls: list[int] = []
    f, target = _quadratic(calls)
    theta = torch.zeros(2, 12)
    grad, values = antithetic_nes(f, theta, directions=100, sigma=0.1, generator=torch.Generator().manual_seed(2))
    assert calls == [2 * 2 * 100] and values.shape == (2, 200)
    assert (_cos(grad, 2 * target.expand(2, -1)) > 0.8).all()


def test_forward_differences_on_the_8bit_grid_probe_only_what_a_video_api_receives():
    calls: list[int] = []
    f, target = _quadratic(calls)
    seen: list[torch.Tensor] = []

    def spy(points: torch.Tensor) -> torch.Tensor:
        seen.append(points)
        return f(points)

    x = torch.rand(3, 12, generator=torch.Generator().manual_seed(0)) * 0.5
    grad, _ = forward_differences(spy, x, directions=200, eps=12 ** 0.5 * GRID,
                                  generator=torch.Generator().manual_seed(1), grid=GRID)
    points = torch.cat(seen)
    assert torch.allclose(points * 255, (points * 255).round(), atol=1e-4)  # every probe is an 8-bit value
    snapped = (x * 255).round() / 255
    assert (_cos(grad, -2 * (snapped - target)) > 0.8).all()  # still along the gradient at what the victim saw
