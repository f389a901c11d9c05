"""Run the victim server with uvicorn: in the foreground (:func:`serve`, for the CLI) or in a thread (tests).

Servers bind to 127.0.0.1 unless told otherwise: a victim with real weights should only be exposed on purpose.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from vidsteal.serve.app import create_app
from vidsteal.serve.config import ServeConfig
from vidsteal.serve.protocol import JsonH11Protocol


def _uvicorn_config(config: ServeConfig, host: str, port: int, log_level: str, access_log: bool,
                    fd: int | None = None) -> uvicorn.Config:
    """uvicorn with the JSON-answering h11 protocol, no WebSocket upgrades (no route takes one), and h11 cutting
    off a head that trickles in past the header limits (HeaderLimits measures the ones that arrive whole)."""
    return uvicorn.Config(create_app(config), host=host, port=port, fd=fd, log_level=log_level,
                          access_log=access_log, timeout_keep_alive=30, backlog=2048, http=JsonH11Protocol, ws="none",
                          h11_max_incomplete_event_size=config.max_request_line + config.max_header_bytes,
                          limit_concurrency=config.max_connections)


def run_server(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
               access_log: bool = True, fd: int | None = None) -> None:
    """Serve ``config`` until interrupted (Ctrl-C / SIGTERM shut down gracefully).

    ``fd`` serves on an already-bound socket inherited from the parent (socket activation, race-free tests).
    """
    uvicorn.Server(_uvicorn_config(config, host, port, log_level, access_log, fd)).run()


def serve(model_path: str | Path, keys_path: str | Path | None = None, host: str = "127.0.0.1", port: int = 8000,
          log_level: str = "info", **settings: Any) -> None:
    """Serve a ``.safetensors`` victim; ``settings`` are any other :class:`ServeConfig` fields.

    Example: ``serve("victim.safetensors", "keys.yaml", port=8080, output_mode={"kind": "topk_probs", "k": 3},
    log_dir="runs/serve_logs", defences=[{"kind": "prada", "block": True}])``.
    """
    config = ServeConfig.model_validate({"model_path": model_path, "keys_path": keys_path, **settings})
    run_server(config, host=host, port=port, log_level=log_level)


class ServerThread:
    """A server on a free loopback port in a background thread; ``with ServerThread(cfg) as s: s.url``.

    The socket is bound before the thread starts, so there is no race for the port and ``url`` is valid at once.
    """

    def __init__(self, config: ServeConfig, host: str = "127.0.0.1", log_level: str = "warning") -> None:
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when it sees the TCP proto,
        # and without it every response waits ~40 ms for a delayed ACK (Nagle).
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.host, self.port = self.sock.getsockname()[:2]
        self.server = uvicorn.Server(_uvicorn_config(config, host, self.port, log_level, access_log=False))
        self.app = self.server.config.app
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"victim server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
