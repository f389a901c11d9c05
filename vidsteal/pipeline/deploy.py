"""A defence setting, deployed for one API key: in-process (``DefendedOracle``) or behind a real victim server.

A :class:`DefenceSetting` is what a model owner switches on: an output mode (top-k, label only, rounding) and a
chain of defences (noise, MAD-style poisoning, PRADA). :func:`parse_setting` reads the short names the CLI takes::

    none  top5  label  round2  noise:0.05  poison:0.8  prada  prada-block

:func:`deployed` yields the oracle a thief talks to and the live :class:`DefenceChain` behind it. In-process, the
chain wraps the victim's full probabilities in a :class:`~vidsteal.victims.defended.DefendedOracle`; with
``serve=True`` the same setting runs in ``vidsteal serve``'s server (a :class:`~vidsteal.serve.ServerThread` on a
loopback port) and the thief queries it over HTTP, so what is measured is what a deployment does. Both run the one
answer path (:mod:`vidsteal.victims.answer`) and give the same answers for the same clips.

A blocked key (PRADA with ``block``) ends the thief's budget: :class:`BlockEndsBudget` turns the refusal into
:class:`~vidsteal.victims.budget.BudgetExceeded`, so the attack trains on what it was answered before the block.
PRADA keeps its per-key state in memory; :func:`replay_ledger` rebuilds it from a resumed run's query log.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import torch
from pydantic import Field

from vidsteal.config import BaseConfig
from vidsteal.victims.base import Oracle
from vidsteal.victims.budget import BudgetExceeded
from vidsteal.victims.defended import DefendedOracle
from vidsteal.victims.defences import (DefenceChain, DefenceConfig, NoiseConfig, PoisonConfig, PradaConfig,
                                       PradaDetector, QueryRefused)
from vidsteal.victims.http import HttpOracle, RemoteError
from vidsteal.victims.ledger import QueryLedger
from vidsteal.victims.outputs import Answers, OutputMode
from vidsteal.victims.spec import Victim

DEFAULT_SETTINGS = ("none", "top5", "label", "round2", "noise:0.02", "noise:0.1", "poison:0.5", "poison:0.8",
                    "prada", "prada-block")
GRAMMAR = "none | topK | label | roundD | noise:STD | poison:TAU | prada | prada-block"
THIEF = "anonymous"  # the key a thief's queries arrive under (a server without keys.yaml serves everyone as this)


class DefenceSetting(BaseConfig):
    """One configuration a victim's owner can deploy: what an answer reveals and the defences before that."""

    name: str = Field(description="short name, as given to --defences")
    output_mode: OutputMode = Field(default_factory=OutputMode, description="what each answer reveals")
    defences: list[DefenceConfig] = Field(default_factory=list, description="applied in order to full probs")

    @property
    def prada(self) -> PradaConfig | None:
        return next((d for d in self.defences if isinstance(d, PradaConfig)), None)

    @property
    def folder(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)


def parse_setting(text: str, seed: int = 0, prada: PradaConfig | None = None) -> DefenceSetting:
    """``text`` in the grammar of :data:`GRAMMAR`; noise is seeded by ``seed``, PRADA starts from ``prada``.

    Noise keeps the top-1 label (``keep_argmax``); poisoning's strength is its threshold ``tau``: every answer
    whose max-probability is below it is pulled toward a consistent wrong class."""
    name = text.strip()
    prada = prada or PradaConfig()
    number = r"(\d+(?:\.\d*)?|\.\d+)"
    if name == "none":
        return DefenceSetting(name=name)
    if name == "label":
        return DefenceSetting(name=name, output_mode=OutputMode(kind="label"))
    if m := re.fullmatch(r"top(\d+)", name):
        return DefenceSetting(name=name, output_mode=OutputMode(kind="topk_probs", k=int(m[1])))
    if m := re.fullmatch(r"round(\d)", name):
        return DefenceSetting(name=name, output_mode=OutputMode(kind="rounded", decimals=int(m[1])))
    if m := re.fullmatch(rf"noise:{number}", name):
        return DefenceSetting(name=name, defences=[NoiseConfig(scale=float(m[1]), seed=seed)])
    if m := re.fullmatch(rf"poison:{number}", name):
        return DefenceSetting(name=name, defences=[PoisonConfig(threshold=float(m[1]))])
    if name in ("prada", "prada-block"):
        return DefenceSetting(name=name, defences=[prada.model_copy(update={"block": name == "prada-block"})])
    raise ValueError(f"unknown defence {text!r}; expected one of {GRAMMAR}")


class BlockEndsBudget(Oracle):
    """A thief's view of a key that a defence blocked: no more answers, as if its budget ran out."""

    def __init__(self, backend: Oracle) -> None:
        super().__init__(backend.num_classes, backend.output_mode)
        self.backend = backend

    def _answer(self, clips):  # noqa: ANN001, ANN202 - the Oracle contract
        try:
            return self.backend.query(clips)
        except (QueryRefused, RemoteError) as err:
            if isinstance(err, RemoteError) and err.status != 403:
                raise
            raise BudgetExceeded(-1, -1, clips.shape[0], 0, None) from err

    def info(self) -> dict:
        return self.backend.info()

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()


def check_servable(victim: Victim, serve: bool) -> None:
    """``serve`` starts the victim in a local server: only a victim the owner holds as a file can be deployed."""
    if serve and victim.remote:
        raise ValueError(f"--serve deploys the victim in a local server: give a model file, not {victim.spec}")


@contextmanager
def deployed(victim: Victim, setting: DefenceSetting, *, serve: bool = False,
             batch_size: int = 256) -> Iterator[tuple[Victim, DefenceChain]]:
    """``victim`` (resolved with full probabilities) behind ``setting``, as the thief's :class:`Victim`.

    Args:
        serve: run the setting in a real victim server on a loopback port and query it over HTTP (8-bit clips);
            needs a victim model file. Else in-process.
        batch_size: clips per request and per forward pass (the same on both paths, so their answers agree).
    """
    if not serve:
        chain = DefenceChain.from_configs(setting.defences)
        oracle = DefendedOracle(victim.oracle, chain, setting.output_mode, key=THIEF)
        yield replace(victim, oracle=BlockEndsBudget(oracle), model=None), chain
        return
    from vidsteal.serve import ServeConfig, ServerThread  # the server stack only where it is used

    check_servable(victim, serve)
    config = ServeConfig(model_path=Path(victim.spec), output_mode=setting.output_mode, defences=setting.defences,
                         max_batch=batch_size, frames=victim.card.frames, size=victim.card.size)
    with ServerThread(config) as server:
        oracle = HttpOracle(server.url, None, setting.output_mode, batch_size=batch_size, max_concurrency=1,
                            retries=0, wire_dtype="uint8")
        try:
            yield replace(victim, kind="http", oracle=BlockEndsBudget(oracle), model=None), \
                server.app.state.service.engine.defences
        finally:
            oracle.close()


def detectors(chain: DefenceChain) -> list[PradaDetector]:
    return [d for d in chain.defences if isinstance(d, PradaDetector)]


def _replay(ledger_root: Path, batch: int) -> Iterator[tuple[object, Answers]]:
    if not (ledger_root / "shards").is_dir():
        return
    ledger = QueryLedger(ledger_root)
    try:
        yield from ledger.replay(batch_size=batch)
    finally:
        ledger.close()


def replay_ledger(chain: DefenceChain, ledger_root: Path, key: str = THIEF, batch: int = 256) -> int:
    """Feed a resumed run's paid queries (in payment order) to the chain's PRADA detectors; returns how many.

    The detectors then hold the state they had when the run was killed (up to the batches' boundaries), so a
    resumed thief is flagged or blocked as the uninterrupted one would be. Stateless defences need nothing."""
    found = detectors(chain)
    if not found:
        return 0
    n = 0
    for clips, answers in _replay(ledger_root, batch):
        for detector in found:
            detector.observe(clips, answers.top1, key)  # type: ignore[arg-type]
        n += len(answers)
    return n


def flag_point(config: PradaConfig, ledger_root: Path, step: int = 8) -> dict[str, float | int | None]:
    """When PRADA would flag the stream in ``ledger_root``: queries answered when ``W < delta`` first held.

    The stream is replayed into a fresh detector ``step`` queries at a time (the resolution of the count)."""
    detector = PradaDetector(config.model_copy(update={"block": False}))
    flagged_at = None
    for clips, answers in _replay(ledger_root, step):
        detector.observe(clips, answers.top1, "replayed-thief")  # type: ignore[arg-type]
        if flagged_at is None and detector.flagged("replayed-thief"):
            flagged_at = detector.status("replayed-thief")["queries"]
    status = detector.status("replayed-thief")
    return {"flagged_at": flagged_at, "stream": status["queries"], "w": status["w"]}


def thief_signal(victim: Victim, ledger_root: Path, batch: int = 256) -> dict[str, float | None]:
    """How much the defence changed what the thief was paid with, over its paid queries: the share whose top-1
    differs from the undefended victim's, and the total variation of the revealed probabilities from the honest
    ones (where revealed). Needs the owner's in-process victim (free); None for a remote one (it would cost)."""
    if victim.remote:
        return {"thief_changed": None, "thief_tv": None}
    changed, n, moved = 0, 0, []
    for clips, answers in _replay(ledger_root, batch):
        honest = victim.oracle.query(clips).probs  # type: ignore[arg-type]
        assert honest is not None  # the matrix resolves the victim with full probabilities
        changed += int((answers.top1 != honest.argmax(dim=1)).sum())
        n += len(answers)
        if answers.probs is not None:
            moved.append(0.5 * (answers.probs - honest).abs().sum(dim=1))
    return {"thief_changed": changed / n if n else None,
            "thief_tv": float(torch.cat(moved).mean()) if moved else None}
