"""Per-key, append-only JSONL log of what the server answered: input hashes and the answers revealed.

One file per key (``<log_dir>/<key name>.jsonl``), one line per answered request::

    {"time": 1732540000.1, "request_id": "...", "route": "v1", "n": 2,
     "inputs_sha256": ["<hex vidsteal.victims.hashes.clip_hashes of clip 0>", "..."],
     "labels": [[3, 1], [0, 2]], "probs": [[...], [...]] | null}

Clips themselves are not stored (they may be large, and the auditor needs only to know which clip got which
answer). A clip's hash is that of its canonical 8-bit form, the same the attacker's
:class:`~vidsteal.victims.ledger.QueryLedger` keys its rows by (:meth:`QueryLedger.hashes`), so the two logs can be
matched clip by clip. The log is the server's source of truth for spent budgets: on start, :meth:`QueryLog.spent` re-counts
each key's answered clips, so restarting the server never refills a budget. A torn last line (crash mid-write)
is ignored when counting.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from vidsteal.victims.outputs import Answers


class QueryLog:
    """Appends one JSON line per answered request, under a per-key lock; ``None`` log_dir disables it."""

    def __init__(self, log_dir: str | Path | None, fsync: bool = False) -> None:
        self.dir = None if log_dir is None else Path(log_dir)
        self.fsync = fsync
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path | None:
        return None if self.dir is None else self.dir / f"{key}.jsonl"

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def spent(self, key: str) -> int:
        """Clips answered to ``key`` according to its log (0 without one)."""
        path = self.path(key)
        if path is None or not path.exists():
            return 0
        total = 0
        with path.open("r", encoding="utf-8") as f:
            for line in f:
                try:
                    total += int(json.loads(line)["n"])
                except (ValueError, KeyError, TypeError):
                    continue  # torn or foreign line: never count what cannot be read
        return total

    def append(self, key: str, request_id: str, route: str, hashes: list[str], answers: Answers) -> None:
        path = self.path(key)
        if path is None:
            return
        record = {
            "time": time.time(),
            "request_id": request_id,
            "route": route,
            "n": len(answers),
            "inputs_sha256": hashes,
            "labels": answers.labels.tolist(),
            "probs": None if answers.probs is None else answers.probs.tolist(),
        }
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock(key), path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
