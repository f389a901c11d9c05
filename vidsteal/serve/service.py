"""One paid query, start to finish: replay check, budget reservation, defences, inference, log, commit.

Shared by the ``/v1`` and ``/v2`` routes so both enforce the same budgets and write the same log. Blocking
(torch, hashing, file writes): the routes call it from a worker thread.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import torch

from vidsteal.serve.auth import AuthError, KeyRecord, KeyStore
from vidsteal.serve.config import ServeConfig
from vidsteal.serve.engine import Engine
from vidsteal.serve.limits import BudgetBook, BudgetExhausted, RateLimiter
from vidsteal.serve.querylog import QueryLog
from vidsteal.serve.schemas import ApiError
from vidsteal.victims.hashes import clip_hashes
from vidsteal.victims.outputs import Answers


@dataclass(frozen=True)
class QueryResult:
    request_id: str
    requested: int
    answers: Answers
    usage: dict[str, int | None]
    digest: str  # sha256 over the request's exact float32 clips: a replayed id must carry the same clips


class VictimService:
    """The server's state: victim engine, keys, budgets, rate limits, query log, replay cache."""

    def __init__(self, config: ServeConfig) -> None:
        if config.torch_threads is not None:
            torch.set_num_threads(config.torch_threads)
        self.config = config
        self.engine = Engine(config)
        self.keys = KeyStore.from_path(config.keys_path)
        self.budgets = BudgetBook()
        self.rates = RateLimiter()
        self.log = QueryLog(config.log_dir, config.fsync)
        for record in self.keys.records:
            budget = record.budget if record.budget is not None else config.default_budget
            self.budgets.open(record.name, budget, spent=self.log.spent(record.name))
            self.rates.open(record.name, record.rate or config.default_rate, record.burst or config.default_burst)
        # Answers of recent requests that named their own id: a client retrying after a timeout gets the answer
        # it already paid for instead of paying twice.
        self._done: OrderedDict[tuple[str, str], QueryResult] = OrderedDict()
        self._inflight: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None, x_api_key: str | None) -> KeyRecord:
        try:
            return self.keys.authenticate(authorization, x_api_key)
        except AuthError as err:
            headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
            raise ApiError(err.status, str(err), headers) from None

    def admit(self, key: KeyRecord) -> None:
        """Take one token from the key's bucket or refuse with 429 and how long to wait."""
        wait = self.rates.wait_time(key.name)
        if wait > 0:
            raise ApiError(429, f"rate limit of key {key.name!r} exceeded; retry in {wait:.3f} s",
                           {"Retry-After": str(max(1, round(wait + 0.5)))}, retry_after_s=round(wait, 3))

    def query(self, key: KeyRecord, clips: torch.Tensor, request_id: str | None, route: str,
              partial: bool) -> QueryResult:
        """Answer ``clips`` for ``key``; ``partial`` answers the prefix that fits the budget, else all or none."""
        self.engine.check(clips)
        hashes = [h.hex() for h in clip_hashes(clips)]  # as the attacker's ledger hashes them
        digest = _request_digest(clips)
        slot = None if request_id is None else (key.name, request_id)
        replay = self._claim(slot, digest)
        if replay is not None:
            return replay
        try:
            result = self._pay(key, clips, hashes, request_id or uuid.uuid4().hex, route, partial, digest)
            self._remember(slot, result)
            return result
        finally:
            self._release(slot)

    def _pay(self, key: KeyRecord, clips: torch.Tensor, hashes: list[str], request_id: str, route: str,
             partial: bool, digest: str) -> QueryResult:
        try:
            granted = self.budgets.reserve(key.name, clips.shape[0], partial)
        except BudgetExhausted as err:
            raise ApiError(402, str(err), budget=err.limit, spent=err.spent, budget_left=err.left) from None
        try:
            clips = clips[:granted]
            answers = self.engine.answer(clips, key.name)  # screens, then answers
            self.log.append(key.name, request_id, route, hashes[:granted], answers)  # logged before it counts
        except BaseException:
            self.budgets.refund(key.name, granted)
            raise
        self.budgets.commit(key.name, granted)
        return QueryResult(request_id, len(hashes), answers, self.budgets.usage(key.name), digest)

    def _claim(self, slot: tuple[str, str] | None, digest: str) -> QueryResult | None:
        if slot is None:
            return None
        with self._lock:
            done = self._done.get(slot)
            if done is not None:
                if done.digest != digest:
                    raise ApiError(409, f"request id {slot[1]!r} was already used for different clips")
                return done
            if slot in self._inflight:
                raise ApiError(409, f"request id {slot[1]!r} is still being answered; retry shortly",
                               retry_after_s=0.1)
            self._inflight.add(slot)
            return None

    def _remember(self, slot: tuple[str, str] | None, result: QueryResult) -> None:
        if slot is None or self.config.idempotency_cache == 0:
            return
        with self._lock:
            self._done[slot] = result
            while len(self._done) > self.config.idempotency_cache:
                self._done.popitem(last=False)

    def _release(self, slot: tuple[str, str] | None) -> None:
        if slot is not None:
            with self._lock:
                self._inflight.discard(slot)


def _request_digest(clips: torch.Tensor) -> str:
    """Exact identity of a request's clips: unlike a clip hash (8-bit form), any change of any value changes it."""
    data = clips.detach().to(device="cpu", dtype=torch.float32).contiguous()
    return hashlib.sha256(f"{tuple(data.shape)}|".encode() + data.numpy().tobytes()).hexdigest()
