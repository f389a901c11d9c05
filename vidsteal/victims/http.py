"""Remote victims over HTTP: the vidsteal server's JSON API (:class:`HttpOracle`) and the shared REST machinery.

Batches are split into requests of ``batch_size`` clips, sent with at most ``max_concurrency`` in flight over
one pooled ``httpx.Client``, and retried with exponential backoff on timeouts, dropped connections, 429 (after
the server's Retry-After), 409 (same request still in flight) and 5xx. Every retry of a request carries the same
``X-Request-Id``, so a vidsteal server replays the answer it already charged for instead of charging twice.
Other 4xx answers raise :class:`RemoteError` at once, with the server's own message.

When some requests of a batch fail, the answers already paid for are not thrown away: the error carries
``answers`` for the longest answered prefix of the batch (like :class:`~vidsteal.victims.budget.BudgetExceeded`,
which is raised when the *server's* budget for this key runs out), and ``paid_beyond_prefix`` for answered
requests after a gap, as ``(offset, Answers)`` pairs.
"""

from __future__ import annotations

import base64
import email.utils
import random
import threading
import time
import uuid
from abc import abstractmethod
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import torch

from vidsteal.victims.base import Oracle, OracleError
from vidsteal.victims.budget import BudgetExceeded
from vidsteal.victims.outputs import Answers, OutputMode


class RemoteError(OracleError):
    """The victim refused or failed a request.

    Attributes:
        status: HTTP status (None when no response arrived, e.g. connection refused after all retries).
        message: the server's error message.
        answered / answers: how many clips of the batch were answered before the failure, and their answers
            (the longest answered prefix; None when nothing was answered).
        paid_beyond_prefix: ``(offset, Answers)`` for requests after the prefix that were answered anyway.
    """

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message if status is None else f"victim answered HTTP {status}: {message}")
        self.status, self.message = status, message
        self.answered, self.answers = 0, None
        self.paid_beyond_prefix: list[tuple[int, Answers]] = []


class _Exhausted(RemoteError):
    """The server's budget for this key does not fit the request (HTTP 402)."""

    def __init__(self, message: str, limit: int | None, spent: int | None) -> None:
        super().__init__(402, message)
        self.limit, self.spent = limit, spent


class Transport:
    """One pooled ``httpx.Client`` plus the retry policy; thread-safe (httpx clients are)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout: float = 30.0, concurrency: int = 4,
                 retries: int = 4, backoff: float = 0.25, max_wait: float = 60.0,
                 client: httpx.Client | None = None) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.url, self.retries, self.backoff, self.max_wait = url.rstrip("/"), retries, backoff, max_wait
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = client or httpx.Client(base_url=self.url, timeout=timeout, limits=limits)
        self.client.headers.update(headers or {})  # also on a caller's client, so the API key is never dropped

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One logical request, retried on transient failures; returns the JSON body of a 200."""
        headers = {"X-Request-Id": uuid.uuid4().hex}
        content = None
        if body is not None:
            content, headers["Content-Type"] = _json(body), "application/json"
        reason = "no attempt made"
        for attempt in range(self.retries + 1):
            wait = 0.0
            try:
                resp = self.client.request(method, path, content=content, headers=headers)
            except httpx.TimeoutException as err:
                reason = f"timed out ({type(err).__name__})"
            except httpx.TransportError as err:
                reason = f"connection failed ({type(err).__name__}: {err})"
            else:
                if resp.status_code == 200:
                    try:
                        return orjson.loads(resp.content)
                    except orjson.JSONDecodeError:
                        raise RemoteError(200, f"response is not JSON: {resp.text[:200]!r}") from None
                message, extra = _error_message(resp)
                if resp.status_code not in (409, 429) and resp.status_code < 500:
                    if resp.status_code == 402:
                        raise _Exhausted(message, extra.get("budget"), extra.get("spent"))
                    raise RemoteError(resp.status_code, message)
                reason = f"HTTP {resp.status_code}: {message}"
                wait = _retry_after(resp, extra)
            if attempt < self.retries:
                jitter = 0.5 + random.random()  # desynchronise clients that failed together
                time.sleep(min(self.max_wait, max(wait, self.backoff * 2**attempt * jitter)))
        raise RemoteError(None, f"{method} {self.url}{path} failed after {self.retries + 1} attempts; last: {reason}")

    def close(self) -> None:
        self.client.close()


class RestOracle(Oracle):
    """Batching, bounded concurrency and partial-answer bookkeeping for JSON-over-HTTP victims.

    Subclasses say how to build one request (:meth:`_request`) and read one response (:meth:`_decode`).
    """

    def __init__(self, transport: Transport, num_classes: int, output_mode: OutputMode | None, *, batch_size: int,
                 max_concurrency: int) -> None:
        if batch_size < 1 or max_concurrency < 1:
            raise ValueError(f"batch_size and max_concurrency must be >= 1, got {batch_size}, {max_concurrency}")
        super().__init__(num_classes, output_mode)
        self.transport, self.url = transport, transport.url
        self.batch_size, self.max_concurrency = batch_size, max_concurrency
        self.last_usage: dict[str, Any] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    # -- batching ----------------------------------------------------------------------------------------------

    def _answer(self, clips: torch.Tensor) -> Answers:
        batches = list(clips.split(self.batch_size))
        if len(batches) == 1 or self.max_concurrency == 1:
            results = [self._safe_batch(b) for b in batches]
        else:
            results = list(self._executor().map(self._safe_batch, batches))
        if all(isinstance(r, Answers) and len(r) == len(b) for r, b in zip(results, batches)):
            return Answers.cat(results)  # type: ignore[arg-type]
        raise self._partial_failure(batches, results, clips.shape[0])

    def _note_usage(self, usage: dict[str, Any] | None) -> None:
        """Keep the newest usage the server reported: with concurrent requests the one decoded last can be older,
        so the highest ``spent`` wins (the server's count only grows)."""
        if not usage:
            return
        with self._pool_lock:
            known = (self.last_usage or {}).get("spent")
            if known is None or (usage.get("spent") or 0) >= known:
                self.last_usage = usage

    def _safe_batch(self, batch: torch.Tensor) -> Answers | RemoteError:
        try:
            path, body = self._request(batch)
            answers = self._decode(self.transport.call("POST", path, body), batch.shape[0])
        except RemoteError as err:
            return err
        if answers.mode != self.output_mode:
            return RemoteError(200, f"victim answered in output mode {answers.mode.to_dict()}, expected "
                                    f"{self.output_mode.to_dict()}")
        return answers

    def _partial_failure(self, batches: list[torch.Tensor], results: list[Any], requested: int) -> OracleError:
        prefix: list[Answers] = []
        error: RemoteError | None = None
        offset, beyond, paid = 0, [], 0
        for batch, result in zip(batches, results):
            if isinstance(result, Answers):
                paid += len(result)
                if error is None:
                    prefix.append(result)
                else:
                    beyond.append((offset, result))
                if len(result) < len(batch) and error is None:  # the server's budget ran out inside this batch
                    error = _Exhausted("budget ran out inside a request", None, None)
            elif error is None:
                error = result
            offset += len(batch)
        assert error is not None
        self.queries += paid  # Oracle.query counts only on success; these were paid for all the same
        answers = Answers.cat(prefix) if prefix else None
        answered = 0 if answers is None else len(answers)
        if isinstance(error, _Exhausted):  # the server's budget for this key ran out: same contract as a local one
            # Every request has returned by now; concurrent ones may have paid after the first refusal reported its
            # count, so the total spent is the highest count any response carried.
            usage = self.last_usage or {}
            refusals = [r for r in results if isinstance(r, _Exhausted)] + [error]
            limit = next((r.limit for r in refusals if r.limit is not None), usage.get("budget"))
            counts = [r.spent for r in refusals if r.spent is not None] + [usage.get("spent")]
            spent = max((c for c in counts if c is not None), default=None)
            out: OracleError = BudgetExceeded(-1 if limit is None else limit, -1 if spent is None else spent,
                                              requested, answered, answers)
        else:
            out = error
            out.answered, out.answers = answered, answers
        out.paid_beyond_prefix = beyond  # type: ignore[attr-defined]
        return out

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="vidsteal-oracle")
            return self._pool

    @abstractmethod
    def _request(self, batch: torch.Tensor) -> tuple[str, dict[str, Any]]:
        """Path and JSON body of the request for one batch."""

    @abstractmethod
    def _decode(self, body: dict[str, Any], n: int) -> Answers:
        """Answers from a 200 response to a request of ``n`` clips (fewer only if the budget ran out)."""

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self.transport.close()

    def __enter__(self) -> "RestOracle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def info(self) -> dict[str, Any]:
        return {**super().info(), "url": self.url, "batch_size": self.batch_size,
                "max_concurrency": self.max_concurrency}


class HttpOracle(RestOracle):
    """A vidsteal victim server (``/v1``), e.g. one started with ``vidsteal serve``.

    Args:
        url: server root, e.g. ``http://127.0.0.1:8000``.
        api_key: sent as ``Authorization: Bearer``; None for an open server.
        output_mode: what you expect the server to reveal; checked against ``/v1/info`` (None: take the server's).
        batch_size: clips per request (the server refuses more than its ``max_batch``).
        max_concurrency: requests in flight at once.
        timeout: seconds per request attempt.
        retries: extra attempts after a transient failure.
        wire_dtype: ``float32`` (exact) or ``uint8`` (4x smaller; clips are quantised to 1/255).
    """

    def __init__(self, url: str, api_key: str | None = None, output_mode: OutputMode | None = None, *,
                 batch_size: int = 16, max_concurrency: int = 4, timeout: float = 30.0, retries: int = 4,
                 backoff: float = 0.25, wire_dtype: str = "float32", client: httpx.Client | None = None) -> None:
        if wire_dtype not in ("float32", "uint8"):
            raise ValueError(f"wire_dtype must be 'float32' or 'uint8', got {wire_dtype!r}")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        transport = Transport(url, headers, timeout, max_concurrency, retries, backoff, client=client)
        self.wire_dtype = wire_dtype
        try:  # learn the victim's label space and output mode before the first paid query
            info = transport.call("GET", "/v1/info")
            served = OutputMode.model_validate(info["output_mode"])
            num_classes = int(info["num_classes"])
        except (RemoteError, KeyError, TypeError, ValueError) as err:
            transport.close()
            raise OracleError(f"cannot read victim info from {url}/v1/info: {err}") from err
        if output_mode is not None and output_mode != served:
            transport.close()
            raise OracleError(f"server at {url} reveals {served.to_dict()}, not the expected {output_mode.to_dict()}")
        super().__init__(transport, num_classes, served, batch_size=batch_size, max_concurrency=max_concurrency)
        self.server_info = info

    def _request(self, batch: torch.Tensor) -> tuple[str, dict[str, Any]]:
        if self.wire_dtype == "uint8":
            array = batch.detach().clamp(0, 1).mul(255).round().to(torch.uint8).contiguous().cpu().numpy()
        else:
            array = batch.detach().to(torch.float32).contiguous().cpu().numpy()
        data = base64.b64encode(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()).decode("ascii")
        return "/v1/query", {"encoded": {"shape": list(batch.shape), "dtype": self.wire_dtype, "data": data}}

    def _decode(self, body: dict[str, Any], n: int) -> Answers:
        try:
            mode = OutputMode.model_validate(body["output_mode"])
            labels = torch.tensor(body["labels"], dtype=torch.long).reshape(len(body["labels"]), -1)
            probs = None if body.get("probs") is None else torch.tensor(body["probs"], dtype=torch.float32)
            self._note_usage(body.get("usage"))
        except (KeyError, TypeError, ValueError) as err:
            raise RemoteError(200, f"malformed answer from the victim: {err}") from None
        if labels.shape[0] > n or (probs is not None and probs.shape != (labels.shape[0], self.num_classes)):
            raise RemoteError(200, f"victim answered {labels.shape[0]} clips with probs of shape "
                                   f"{None if probs is None else tuple(probs.shape)} for a request of {n}")
        return Answers(labels, probs, mode)


def _json(body: dict[str, Any]) -> bytes:
    """JSON bytes of a request body; numpy arrays inside are written directly (orjson), which is what makes large
    JSON tensors (OIP ``data``) cheap to send: stdlib ``json`` spends most of a request formatting numbers."""
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def _error_message(resp: httpx.Response) -> tuple[str, dict[str, Any]]:
    """The server's ``{"error": ...}`` message (OIP and vidsteal), or the start of whatever body it sent."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300] or resp.reason_phrase, {}
    if isinstance(body, dict):
        message = body.get("error") or body.get("detail") or body
        return str(message), body
    return str(body)[:300], {}


def _retry_after(resp: httpx.Response, body: dict[str, Any]) -> float:
    """Seconds the server asked us to wait: the precise JSON hint, else the Retry-After header (secs or date)."""
    if isinstance(body.get("retry_after_s"), (int, float)):
        return float(body["retry_after_s"])
    header = resp.headers.get("Retry-After")
    if header is None:
        return 0.0
    try:
        return max(0.0, float(header))
    except ValueError:
        when = email.utils.parsedate_to_datetime(header)
        return max(0.0, when.timestamp() - time.time()) if when is not None else 0.0
