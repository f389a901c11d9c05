"""uvicorn's h11 HTTP/1.1 protocol, answering in the server's ``{"error": ...}`` shape where uvicorn answers text.

Two refusals happen in uvicorn itself, below the ASGI app: a request h11 cannot parse (a bad request line or
header, ``Content-Length: abc``, a head that outgrows ``h11_max_incomplete_event_size``), which uvicorn answers
``400 Invalid HTTP request received.``, and a request over ``limit_concurrency``, answered ``503 Service
Unavailable``, both as text/plain. :class:`JsonH11Protocol` answers both as JSON, with h11's own reason (and its
431 for an oversized head). The server pins this protocol (``http=JsonH11Protocol``), so installing httptools
does not silently bring the text answers back.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE  # as uvicorn's own h11 protocol does
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol
from uvicorn.server import ServerState

from vidsteal.serve.limits import Scope, error_json, reject


class _Connection(h11.Connection):
    """h11's server connection, remembering why it could not parse a request (uvicorn keeps only a fixed text)."""

    error: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as err:
            self.error = err
            raise


class JsonH11Protocol(H11Protocol):
    """:class:`~uvicorn.protocols.http.h11_impl.H11Protocol` with JSON answers for parse errors and overload."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.head_limit = config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        self.conn = _Connection(h11.SERVER, self.head_limit)
        # uvicorn's own concurrency check would answer in text: count the same things, answer in JSON (_admit)
        self.max_concurrency, self.limit_concurrency = self.limit_concurrency, None
        self.app = self._admit

    async def _admit(self, scope: Scope, receive: Any, send: Any) -> None:
        limit = self.max_concurrency  # both counts include this request: at most `limit` are served at once
        if limit is not None and (len(self.connections) > limit or len(self.tasks) > limit):
            self.logger.warning("Exceeded concurrency limit.")
            await reject(send, 503, f"server busy: more than {limit} connections or requests in progress; retry "
                                    "shortly", ((b"retry-after", b"1"),))
            return
        await self.config.loaded_app(scope, receive, send)

    def send_400_response(self, msg: str) -> None:
        err = self.conn.error
        status = err.error_status_hint if err is not None else 400
        if status == 431:
            message = f"request line and headers exceed the limit of {self.head_limit} bytes"
        else:
            message = f"invalid HTTP request: {err or msg}"
        body = error_json(message)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=status, headers=headers, reason=STATUS_PHRASES.get(status, b"")),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
