"""Per-key query budgets (exact under concurrency), per-key token-bucket rate limits, and HTTP size limits.

Budgets are *reserved* under a lock before inference and committed or refunded after it, so no interleaving
of concurrent requests can answer more clips than a key's budget, and a failed inference costs nothing.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class BudgetExhausted(Exception):
    def __init__(self, key: str, limit: int, spent: int, left: int, requested: int) -> None:
        self.key, self.limit, self.spent, self.left, self.requested = key, limit, spent, left, requested
        super().__init__(
            f"query budget of key {key!r} exhausted: {requested} clips requested, {left} of {limit} left"
            + (" (send at most that many clips)" if left else "")
        )


@dataclass
class _Account:
    limit: int | None
    spent: int = 0
    reserved: int = 0


class BudgetBook:
    """Counts clips answered per key. ``reserve`` -> inference -> ``commit`` (or ``refund`` on failure)."""

    def __init__(self) -> None:
        self._accounts: dict[str, _Account] = {}
        self._lock = threading.Lock()

    def open(self, key: str, limit: int | None, spent: int = 0) -> None:
        """Register a key; ``spent`` restores what earlier runs of the server already answered."""
        with self._lock:
            self._accounts[key] = _Account(limit, spent=spent)

    def reserve(self, key: str, n: int, partial: bool) -> int:
        """Hold ``n`` clips of budget; with ``partial`` hold as many as fit (at least 1). Raises when none fit."""
        with self._lock:
            acc = self._accounts[key]
            if acc.limit is None:
                acc.reserved += n
                return n
            left = max(0, acc.limit - acc.spent - acc.reserved)
            granted = min(n, left) if partial else (n if n <= left else 0)
            if granted == 0:
                raise BudgetExhausted(key, acc.limit, acc.spent, left, n)
            acc.reserved += granted
            return granted

    def commit(self, key: str, n: int) -> None:
        with self._lock:
            acc = self._accounts[key]
            acc.reserved -= n
            acc.spent += n

    def refund(self, key: str, n: int) -> None:
        with self._lock:
            self._accounts[key].reserved -= n

    def usage(self, key: str) -> dict[str, int | None]:
        with self._lock:
            acc = self._accounts[key]
            left = None if acc.limit is None else max(0, acc.limit - acc.spent - acc.reserved)
            return {"budget": acc.limit, "spent": acc.spent, "left": left}


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; each request takes one token or learns how long to wait."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0.0 if a token was taken, else the seconds until one will be available."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


class RateLimiter:
    """One token bucket per key; keys without a rate are not limited."""

    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}

    def open(self, key: str, rate: float | None, burst: int | None) -> None:
        if rate is not None:
            self._buckets[key] = TokenBucket(rate, burst or max(1, math.ceil(rate)))

    def wait_time(self, key: str) -> float:
        bucket = self._buckets.get(key)
        return 0.0 if bucket is None else bucket.take()


class BodySizeLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes with 413, before any route parses them.

    A declared ``Content-Length`` over the limit is refused without reading; otherwise the body is read in
    chunks and buffered only up to the limit (chunked uploads cannot sneak past), then replayed to the app.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await reject(send, 400, "Content-Length is not an integer")
                return
            if length > self.limit:
                await reject(send, 413, f"request body of {length} bytes exceeds the limit of {self.limit}")
                return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await reject(send, 413, f"request body exceeds the limit of {self.limit} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for disconnect like a normal receive

        await self.app(scope, replay, send)


class HeaderLimits:
    """ASGI middleware: refuse a request line over ``max_request_line`` bytes (414), more than ``max_headers``
    header fields or more than ``max_header_bytes`` of headers (431), before any route or body is read.

    h11 bounds only a head that arrives in pieces (see :mod:`vidsteal.serve.protocol`) and never counts fields;
    this measures every head, whole, as the client sent it (``name: value\r\n`` per field).
    """

    def __init__(self, app: ASGIApp, max_request_line: int, max_header_bytes: int, max_headers: int) -> None:
        self.app, self.max_line, self.max_bytes, self.max_count = app, max_request_line, max_header_bytes, max_headers

    def problem(self, scope: Scope) -> tuple[int, str] | None:
        query = scope.get("query_string") or b""
        line = len(scope["method"]) + len(scope.get("raw_path") or b"") + (len(query) + 1 if query else 0) + 10
        if line > self.max_line:
            return 414, f"request line of {line} bytes exceeds the limit of {self.max_line} (shorten the URL)"
        headers = scope.get("headers") or []
        if len(headers) > self.max_count:
            return 431, f"request has {len(headers)} header fields; this server takes at most {self.max_count}"
        size = sum(len(name) + len(value) + 4 for name, value in headers)
        if size > self.max_bytes:
            return 431, f"request headers take {size} bytes, over the limit of {self.max_bytes}"
        return None

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        refusal = self.problem(scope) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await reject(send, *refusal)


def error_json(message: str) -> bytes:
    """The server's error body, for the layers that answer before FastAPI does."""
    return json.dumps({"error": message}).encode()


async def reject(send: Callable[[Message], Awaitable[None]], status: int, message: str,
                 extra_headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Answer ``status`` with ``{"error": message}`` and close the connection (the rest of the request is unread)."""
    body = error_json(message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close"), *extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
