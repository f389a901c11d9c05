"""Matplotlib figures for reports, returned as PNG bytes so HTML can embed them and Markdown can link them."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def curves_plot(curves: dict[str, list[dict[str, float]]], title: str, victim_top1: float | None = None,
                y: str = "top1", chance: float | None = None) -> bytes:
    """Student accuracy vs victim queries, one line per method; the victim's own top-1 and chance as dashed lines.

    The y axis fits the students (students far below the victim would otherwise be one flat line at the bottom);
    a victim above the axis is named in the legend with its value."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    top = 0.0
    for method, points in sorted(curves.items()):
        pts = [p for p in points if y in p and "queries" in p]
        if pts:
            ax.plot([p["queries"] for p in pts], [p[y] for p in pts], marker="o", ms=3, label=method)
            top = max(top, max(p[y] for p in pts))
    ymax = min(1.0, max(0.1, 1.4 * top))
    if victim_top1 is not None and victim_top1 <= ymax:
        ax.axhline(victim_top1, color="k", ls="--", lw=1, label="victim")
    elif victim_top1 is not None:
        ax.plot([], [], color="k", ls="--", lw=1, label=f"victim {100 * victim_top1:.1f}% (above the axis)")
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", lw=1, label="chance")
    ax.set_xlabel("victim queries")
    ax.set_ylabel(f"student {y} (held-out)")
    ax.set_ylim(0, ymax)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def tradeoff_plot(points: list[dict[str, Any]]) -> bytes:
    """A defence matrix, one point per defence x attack: ``utility_lost`` (x) against ``theft_prevented`` (y)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    attacks = list(dict.fromkeys(p["attack"] for p in points))
    for p in points:  # one marker and colour per attack
        x, y, i = 100 * p["utility_lost"], 100 * p["theft_prevented"], attacks.index(p["attack"])
        ax.scatter([x], [y], marker="osD^vP*"[i % 7], color=f"C{i}", s=28,
                   label=p["attack"] if p["defence"] == "none" else None)
        ax.annotate(p["defence"], (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("utility lost: honest answers changed or refused (%)")
    ax.set_ylabel("theft prevented: student top-1 lost (points)")
    ax.set_title("Defences: what honest users pay vs what the thief loses", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, title="attack", title_fontsize=7)
    return _png(fig)


def sparsity_plot(series: dict[str, list[dict[str, float]]], title: str) -> bytes:
    """Held-out top-1 vs sparsity per ticket kind (winning ticket vs random re-init control)."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    top = 0.0
    for kind, points in sorted(series.items()):
        pts = sorted(points, key=lambda p: p["sparsity"])
        ax.plot([100 * p["sparsity"] for p in pts], [p["top1"] for p in pts], marker="o", ms=3, label=kind)
        top = max([top] + [p["top1"] for p in pts])
    ax.set_xlabel("sparsity (% weights pruned)")
    ax.set_ylabel("student top-1 (held-out)")
    ax.set_ylim(0, min(1.0, max(0.1, 1.4 * top)))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def clip_grid(rows: list[tuple[str, Any]], max_frames: int = 8) -> bytes:
    """One row per (label, uint8 clip (T, C, H, W)): its frames left to right."""
    frames = min(max_frames, max(int(clip.shape[0]) for _, clip in rows))
    fig, axes = plt.subplots(len(rows), frames, figsize=(frames * 0.9, len(rows) * 0.95), squeeze=False)
    for r, (label, clip) in enumerate(rows):
        for t in range(frames):
            ax = axes[r][t]
            ax.axis("off")
            if t < clip.shape[0]:
                ax.imshow(clip[t].permute(1, 2, 0).numpy(), interpolation="nearest")
        axes[r][0].set_title(label, fontsize=6, loc="left")
    fig.subplots_adjust(wspace=0.05, hspace=0.4)
    return _png(fig)
