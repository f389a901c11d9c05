"""Defences a victim can deploy against extraction: post-processors on full probabilities, plus a detector.

A defence sees the full softmax ``(N, K)`` before the output mode truncates it, together with the clips and the
API key that asked. Every victim runs them as one chain, inside :class:`vidsteal.victims.answer.AnswerPath`::

    chain.screen(clips, key)            # before inference: may refuse a blocked key
    probs = chain(probs, clips, key)    # after inference: perturb, observe
    answers = apply_output_mode(probs, mode)

so a defence measured locally (:class:`~vidsteal.victims.defended.DefendedOracle`) is bit-for-bit the one
deployed behind HTTP. Randomness is explicit: noise draws from its own generator seeded by ``NoiseConfig.seed``
(the poison derangement by ``PoisonConfig.seed``), never from torch's global stream. Top-k and rounding are output modes
(:mod:`vidsteal.victims.outputs`), not defences. Each defence keeps its own state per key and is thread-safe:
the server answers concurrent requests.

- :class:`NoiseDefence` adds noise to the probabilities (renormalised; optionally keeps the top-1 label).
- :class:`PoisonDefence` is adaptive misinformation (Kariyappa & Qureshi, CVPR 2020): queries that look
  out-of-distribution (low max-probability) get answers pulled toward a misleading class.
- :class:`PradaDetector` is PRADA (Juuti et al., EuroS&P 2019): per-key stream of min L2 distances of each
  query to earlier ones; a Shapiro-Wilk W below ``delta`` flags (and optionally blocks) the key.
"""

from __future__ import annotations

import logging
import math
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Sequence, Union

import torch
import torch.nn.functional as F
from pydantic import Field

from vidsteal.config import BaseConfig
from vidsteal.victims.base import OracleError
from vidsteal.victims.normality import shapiro_wilk


log = logging.getLogger("vidsteal.defences")


class QueryRefused(OracleError):
    """A defence refused to answer this key (e.g. PRADA flagged it and blocking is on)."""


# --------------------------------------------------------------------------------------------------- configs


class NoiseConfig(BaseConfig):
    kind: Literal["noise"] = "noise"
    scale: float = Field(0.05, ge=0, description="std (gaussian) or scale (laplace) of noise added to each prob")
    distribution: Literal["gaussian", "laplace"] = Field("gaussian", description="noise distribution")
    keep_argmax: bool = Field(True, description="swap entries back so the top-1 label never changes")
    seed: int | None = Field(None, description="seed of the noise stream; None draws a fresh one per defence")


class PoisonConfig(BaseConfig):
    kind: Literal["poison"] = "poison"
    threshold: float = Field(0.5, gt=0, lt=1, description="max-prob below which a query counts as OOD (tau)")
    sharpness: float = Field(50.0, gt=0, description="slope nu of the sigmoid switch between honest and misleading")
    target: Literal["permutation", "least_likely"] = Field(
        "permutation", description="misleading class: a fixed derangement of the top-1 class, or the least likely"
    )
    seed: int = Field(0, description="seed of the derangement (fixed per deployment, so lies are consistent)")


class PradaConfig(BaseConfig):
    kind: Literal["prada"] = "prada"
    delta: float = Field(0.9, gt=0, lt=1, description="flag a key when the Shapiro-Wilk W of its distances < delta")
    min_queries: int = Field(100, ge=3, description="distances needed before the key is tested at all")
    window: int = Field(5000, ge=3, le=5000, description="test the last N distances (W's approximation holds <= 5000)")
    block: bool = Field(False, description="refuse further queries from a flagged key (else only flag it)")
    per_class: bool = Field(True, description="compare a query only with earlier ones of the same predicted class")
    feature_shape: tuple[int, int, int] | None = Field(
        (4, 16, 16), description="average-pool clips to (T, H, W) before distances; bounds memory per key"
    )
    max_growing: int = Field(4096, ge=1, description="cap on remembered queries per key and class (oldest dropped)")


DefenceConfig = Annotated[Union[NoiseConfig, PoisonConfig, PradaConfig], Field(discriminator="kind")]


# --------------------------------------------------------------------------------------------------- defences


class Defence(ABC):
    """One step of the chain. ``screen`` may refuse before inference; ``__call__`` returns new probabilities."""

    def screen(self, clips: torch.Tensor, key: str) -> None:
        """Raise :class:`QueryRefused` to refuse the batch before the victim runs; the default admits all."""

    @abstractmethod
    def __call__(self, probs: torch.Tensor, clips: torch.Tensor, key: str) -> torch.Tensor:
        """Map full probabilities ``(N, K)`` to the (possibly perturbed) probabilities to reveal."""


def _renormalise(probs: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
    probs = probs.clamp_min(0)
    total = probs.sum(dim=1, keepdim=True)
    dead = total.squeeze(1) <= 0  # all mass clipped away: reveal the honest row rather than divide by zero
    out = probs / total.clamp_min(1e-12)
    out[dead] = fallback[dead]
    return out


class NoiseDefence(Defence):
    """Additive noise on probabilities, clipped at 0 and renormalised to sum to 1."""

    def __init__(self, config: NoiseConfig) -> None:
        self.config = config
        self._gen = torch.Generator()
        # Without a seed, a fresh one from the OS; torch.seed() would also reseed torch's global stream.
        self.seed = self._gen.seed() if config.seed is None else config.seed
        self._gen.manual_seed(self.seed)
        self._lock = threading.Lock()  # a Generator is not safe to share across threads

    def __call__(self, probs: torch.Tensor, clips: torch.Tensor, key: str) -> torch.Tensor:
        if self.config.scale == 0:
            return probs
        with self._lock:
            if self.config.distribution == "gaussian":
                noise = torch.randn(probs.shape, generator=self._gen, dtype=probs.dtype)
            else:  # Laplace by inverse CDF, so the seeded generator drives it too
                u = torch.rand(probs.shape, generator=self._gen, dtype=probs.dtype).clamp(1e-7, 1 - 1e-7) - 0.5
                noise = -u.sign() * torch.log1p(-2 * u.abs())
        noisy = _renormalise(probs + self.config.scale * noise, probs)
        if self.config.keep_argmax:
            noisy = _restore_argmax(noisy, probs.argmax(dim=1))
        return noisy


def _restore_argmax(probs: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
    """Swap each row's max entry with the entry at ``top``: same values, original top-1 label."""
    now = probs.argmax(dim=1)
    rows = torch.nonzero(now != top).squeeze(1)
    if rows.numel():
        probs = probs.clone()
        a, b = probs[rows, top[rows]].clone(), probs[rows, now[rows]].clone()
        probs[rows, top[rows]], probs[rows, now[rows]] = b, a
    return probs


class PoisonDefence(Defence):
    """Adaptive misinformation: ``y' = (1 - a) y + a y_hat`` with ``a = sigmoid(nu (tau - max y))``.

    Benign (in-distribution) queries are answered confidently, so ``a ~ 0`` and they pass untouched; an
    attacker's synthetic or surrogate queries are usually low-confidence, so they get ``y_hat``, a one-hot on a
    misleading class. Kariyappa & Qureshi train a misinformation network for ``y_hat``; a fixed derangement of
    the true top-1 is the training-free stand-in here: consistent lies teach the student a wrong mapping.
    """

    def __init__(self, config: PoisonConfig) -> None:
        self.config = config
        self._perms: dict[int, torch.Tensor] = {}
        self._lock = threading.Lock()

    def misleading_class(self, probs: torch.Tensor) -> torch.Tensor:
        if self.config.target == "least_likely":
            return probs.argmin(dim=1)
        k = probs.shape[1]
        with self._lock:
            if k not in self._perms:
                order = torch.randperm(k, generator=torch.Generator().manual_seed(self.config.seed))
                perm = torch.empty(k, dtype=torch.long)
                perm[order] = order.roll(-1)  # a cyclic shift of a random order: no class maps to itself
                self._perms[k] = perm
            perm = self._perms[k]
        return perm[probs.argmax(dim=1)]

    def alpha(self, probs: torch.Tensor) -> torch.Tensor:
        """Per-row weight of the misleading answer, in (0, 1); ~1 for out-of-distribution queries."""
        return torch.sigmoid(self.config.sharpness * (self.config.threshold - probs.max(dim=1).values))

    def __call__(self, probs: torch.Tensor, clips: torch.Tensor, key: str) -> torch.Tensor:
        if probs.shape[1] < 2:
            return probs
        lie = F.one_hot(self.misleading_class(probs), probs.shape[1]).to(probs.dtype)
        a = self.alpha(probs).unsqueeze(1)
        return (1 - a) * probs + a * lie


# --------------------------------------------------------------------------------------------------- PRADA


class _GrowingSet:
    """PRADA's growing set ``G_c`` of one key and class, with the running threshold ``T_c``.

    Rows live in a preallocated buffer (doubling, then a ring of ``cap`` rows), and the mean/std of the
    distances that grew the set are running sums: each query costs one pass over the set, not a copy of it.
    """

    def __init__(self, first: torch.Tensor, cap: int) -> None:
        self.buf = first.new_empty((min(cap, 64), first.numel()))
        self.sq = first.new_empty(self.buf.shape[0])  # squared row norms, so a distance is one mat-vec product
        self.buf[0], self.sq[0] = first, first.dot(first)
        self.size, self.next, self.cap = 1, 1, cap
        self.threshold, self.count, self.total, self.total_sq = 0.0, 0, 0.0, 0.0

    def min_distance(self, x: torch.Tensor) -> float:
        # ||g - x||^2 = ||g||^2 - 2 g.x + ||x||^2: no (M, D) temporary; float64 keeps tiny distances exact enough.
        d2 = self.sq[: self.size] - 2 * (self.buf[: self.size] @ x) + x.dot(x)
        return float(d2.min().clamp_min(0).sqrt())

    def grow(self, x: torch.Tensor, d: float) -> None:
        if self.next == self.buf.shape[0] and self.buf.shape[0] < self.cap:
            rows = min(self.cap, 2 * self.buf.shape[0])
            bigger, sq = self.buf.new_empty((rows, self.buf.shape[1])), self.sq.new_empty(rows)
            bigger[: self.size], sq[: self.size] = self.buf[: self.size], self.sq[: self.size]
            self.buf, self.sq = bigger, sq
        slot = self.next % self.cap  # past the cap the oldest row is overwritten
        self.buf[slot], self.sq[slot] = x, x.dot(x)
        self.next = (self.next + 1) % self.cap if self.size == self.cap else self.next + 1
        self.size = min(self.size + 1, self.cap)
        self.count, self.total, self.total_sq = self.count + 1, self.total + d, self.total_sq + d * d
        mean = self.total / self.count
        std = math.sqrt(max(0.0, (self.total_sq - self.count * mean**2) / (self.count - 1))) if self.count > 1 else 0.0
        self.threshold = max(self.threshold, mean - std)


@dataclass
class _KeyStream:
    """PRADA's state for one key: a growing set per class and the stream of min distances."""

    growing: dict[int, _GrowingSet] = field(default_factory=dict)
    distances: list[float] = field(default_factory=list)
    queries: int = 0
    w: float | None = None
    flagged: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class PradaDetector(Defence):
    """PRADA: flags keys whose query-distance distribution is not normal; answers are never changed.

    For each new query ``x`` of predicted class ``c``, ``d = min ||x - y||_2`` over the key's growing set
    ``G_c``; ``d`` joins the stream ``D``, and if ``d > T_c`` then ``x`` joins ``G_c`` and
    ``T_c = max(T_c, mean - std)`` of the distances that grew ``G_c``. Natural queries give a roughly normal
    ``D``; synthetic attack queries (small perturbations of a few seeds, or random noise) do not, so once
    ``|D| >= min_queries`` a Shapiro-Wilk ``W < delta`` flags the key. A flag is sticky for the process.
    """

    def __init__(self, config: PradaConfig) -> None:
        self.config = config
        self._streams: dict[str, _KeyStream] = {}
        self._lock = threading.Lock()

    def _stream(self, key: str) -> _KeyStream:
        with self._lock:
            return self._streams.setdefault(key, _KeyStream())

    def screen(self, clips: torch.Tensor, key: str) -> None:
        if self.config.block and self.flagged(key):
            raise QueryRefused(f"key {key!r} is blocked: its query stream was flagged as an extraction attack")

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        clips = clips.detach().float()
        if self.config.feature_shape is not None:
            t, h, w = self.config.feature_shape
            size = (min(t, clips.shape[2]), min(h, clips.shape[3]), min(w, clips.shape[4]))
            clips = F.adaptive_avg_pool3d(clips, size)
        return clips.flatten(1).to(torch.float64)

    def __call__(self, probs: torch.Tensor, clips: torch.Tensor, key: str) -> torch.Tensor:
        self.observe(clips, probs.argmax(dim=1), key)
        return probs

    def observe(self, clips: torch.Tensor, classes: torch.Tensor, key: str) -> None:
        """Add a batch to the key's stream (in order) and re-test it."""
        feats = self.features(clips)
        stream = self._stream(key)
        with stream.lock:
            for x, c in zip(feats, classes.tolist()):
                self._add(stream, x, int(c) if self.config.per_class else 0)
            stream.queries += feats.shape[0]
            recent = stream.distances[-self.config.window :]
            if len(recent) >= self.config.min_queries:
                stream.w = shapiro_wilk(recent)[0]
                if not stream.flagged and stream.w < self.config.delta:
                    stream.flagged = True
                    action = " (now blocked)" if self.config.block else ""
                    log.warning("PRADA flagged key %r after %d queries: W = %.4f < delta = %.4f%s", key,
                                stream.queries, stream.w, self.config.delta, action)
            if len(stream.distances) > 2 * self.config.window:  # keep memory bounded; only the window is tested
                del stream.distances[: -self.config.window]

    def _add(self, stream: _KeyStream, x: torch.Tensor, c: int) -> None:
        grow = stream.growing.get(c)
        if grow is None:  # the first query of a class has nothing to be compared with
            stream.growing[c] = _GrowingSet(x, self.config.max_growing)
            return
        d = grow.min_distance(x)
        stream.distances.append(d)
        if d > grow.threshold:
            grow.grow(x, d)

    def flagged(self, key: str) -> bool:
        with self._lock:
            stream = self._streams.get(key)
        return bool(stream and stream.flagged)

    def status(self, key: str) -> dict[str, Any]:
        """What the detector knows about ``key``: for audit logs, not for the key's owner."""
        stream = self._stream(key)
        with stream.lock:
            return {"queries": stream.queries, "distances": len(stream.distances), "w": stream.w,
                    "flagged": stream.flagged, "blocked": stream.flagged and self.config.block}


# --------------------------------------------------------------------------------------------------- chain


def build_defence(config: NoiseConfig | PoisonConfig | PradaConfig) -> Defence:
    if isinstance(config, NoiseConfig):
        return NoiseDefence(config)
    if isinstance(config, PoisonConfig):
        return PoisonDefence(config)
    if isinstance(config, PradaConfig):
        return PradaDetector(config)
    raise TypeError(f"not a defence config: {type(config).__name__}")


class DefenceChain:
    """Defences applied in list order; an empty chain is the undefended victim."""

    def __init__(self, defences: Sequence[Defence] = ()) -> None:
        self.defences = list(defences)

    @classmethod
    def from_configs(cls, configs: Sequence[NoiseConfig | PoisonConfig | PradaConfig]) -> "DefenceChain":
        return cls([build_defence(c) for c in configs])

    def screen(self, clips: torch.Tensor, key: str = "local") -> None:
        for defence in self.defences:
            defence.screen(clips, key)

    def __call__(self, probs: torch.Tensor, clips: torch.Tensor, key: str = "local") -> torch.Tensor:
        for defence in self.defences:
            probs = defence(probs, clips, key)
        return probs

    def __len__(self) -> int:
        return len(self.defences)
