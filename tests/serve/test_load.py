"""Bounded load test on loopback: N requests from 32 concurrent clients against a server in its own process, half
on /v1 and half on OIP v2; every one must be answered 200, none may be a 5xx. Bounded in count and in time."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

import httpx
from serve_support import clips, encoded

CONCURRENCY = 32
DEADLINE_S = 240.0


def _hammer(url: str, total: int) -> tuple[Counter, float]:
    x = clips(1)
    v1 = encoded(x)
    v2 = {"inputs": [{"name": "clips", "shape": list(x.shape), "datatype": "FP32", "data": x.flatten().tolist()}]}
    tickets = itertools.count()
    statuses: Counter = Counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + DEADLINE_S

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.monotonic() < stop_at:
                i = next(tickets)
                if i >= total:
                    return
                try:
                    if i % 2:
                        status = client.post("/v2/models/victim/infer", json=v2).status_code
                    else:
                        status = client.post("/v1/query", json=v1).status_code
                except httpx.TransportError as err:
                    status = type(err).__name__
                with lock:
                    statuses[status] += 1

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE_S + 60)
    return statuses, time.monotonic() - start


def _check(server_process, tmp_path, total: int) -> None:
    url = server_process("torch_threads=1")
    statuses, seconds = _hammer(url, total)
    print(f"\n{total} requests, {CONCURRENCY} concurrent: {dict(statuses)} in {seconds:.1f} s "
          f"({total / seconds:.0f} req/s)")
    assert statuses == Counter({200: total}), statuses  # no 5xx, no dropped connection, nothing left undone
    log = "".join(p.read_text() for p in tmp_path.glob("server*.log"))
    assert "Traceback" not in log, log[-2000:]


def test_load_5000_requests_32_concurrent(server_process, tmp_path):
    """~15-20 s on 2 busy cores, so it stays in the default run (the brief's bar for marking it slow)."""
    _check(server_process, tmp_path, 5000)
