"""The durable query log: every paid (clip, answer) is saved before the attack sees it, so no query is paid twice.

Layout of a ledger folder (typically ``runs/<attack>_<hash>/seed_<s>/queries``)::

    index.sqlite            one row per paid clip: seq, content hash, time, backend, answer (WAL mode)
    shards/<start>.safetensors   the clips of one paid chunk, with their answers and metadata
    lock                    held (flock) by the one process writing the ledger

Why this split: clips are large (a 16x112x112 clip is 600 KB) and belong in safetensors, which any tool reads
and which never runs code on load; the index is small, needs fast lookups by hash and atomic multi-row
commits, which is what SQLite is for. Shards are written whole (tmp file, fsync, rename, fsync folder)
*before* their rows are committed, and each shard also holds its answers. So a kill at any moment leaves
either a shard with committed rows, or a complete shard without rows (re-indexed on the next open: those
answers were paid and are not lost), or a ``.tmp`` (deleted: nothing was saved, the chunk is re-queried).
SQLite runs with ``synchronous=FULL``: one extra fsync per paid chunk, negligible next to a victim round trip,
buys commits that also survive power loss, not only a killed process.

Clips are hashed by :func:`vidsteal.victims.hashes.clip_hash` in the form they are stored, by default 8-bit
``(T, C, H, W)`` as in the dataset contract, which is also the hash the vidsteal server writes in its own query
log; :class:`~vidsteal.victims.logged.LoggedOracle` sends the victim exactly that 8-bit clip, so what the log
holds is exactly what was queried and a replay is exact. Shard files are written by
:mod:`vidsteal.victims.shards`.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import torch
from safetensors.torch import load_file

from vidsteal.victims.hashes import clip_hash
from vidsteal.victims.outputs import Answers, OutputMode
from vidsteal.victims.shards import CLIP_FORMATS, atomic_save, from_stored, shard_meta

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shards (start INTEGER PRIMARY KEY, count INTEGER NOT NULL, file TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS queries (
    seq INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, shard INTEGER NOT NULL REFERENCES shards(start),
    time REAL NOT NULL, backend TEXT NOT NULL, top1 INTEGER NOT NULL, labels BLOB NOT NULL, probs BLOB);
"""
Row = tuple[torch.Tensor, "torch.Tensor | None"]


class LedgerError(RuntimeError):
    """The ledger folder is in use, inconsistent, or was written by a run with different settings."""


def _canonical(mode: OutputMode) -> str:
    """Output mode as sorted-key JSON: equal modes give equal strings whatever the pydantic version."""
    return json.dumps(mode.to_dict(), sort_keys=True)


class QueryLedger:
    """Append-only store of paid queries, safe against kills; one writer per folder.

    Args:
        root: the ledger's folder; created if missing.
        num_classes, output_mode, clip_format: the settings of the run. Saved on first use; a later open with
            different values raises :class:`LedgerError` (answers from another output mode would be wrong).
            Leave them out to read an existing ledger with its own settings.
    """

    def __init__(self, root: str | Path, num_classes: int | None = None, output_mode: OutputMode | None = None,
                 clip_format: str | None = None) -> None:
        if clip_format is not None and clip_format not in CLIP_FORMATS:
            raise ValueError(f"clip_format must be one of {CLIP_FORMATS}, got {clip_format!r}")
        self.root = Path(root)
        self.shard_dir = self.root / "shards"
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.root / "lock", "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise LedgerError(f"query ledger {self.root} is open in another process or object; close it first") \
                from None
        self._db = sqlite3.connect(self.root / "index.sqlite", isolation_level=None)
        try:
            self._open(num_classes, output_mode, clip_format)
        except BaseException:
            self.close()  # release the lock at once, so the caller can retry with the right settings
            raise

    # -- setup -------------------------------------------------------------------------------------------
    def _open(self, num_classes: int | None, output_mode: OutputMode | None, clip_format: str | None) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self.paid = self._count_rows()
        self._bind("schema_version", SCHEMA_VERSION)
        classes = self._bind("num_classes", None if num_classes is None else str(num_classes))
        self.num_classes = None if classes is None else int(classes)
        mode = self._bind("output_mode", None if output_mode is None else _canonical(output_mode))
        self.output_mode = None if mode is None else OutputMode.model_validate(json.loads(mode))
        self.clip_format = self._bind("clip_format", clip_format)
        self._recover()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _count_rows(self) -> int:
        count, top = self._db.execute("SELECT COUNT(*), MAX(seq) FROM queries").fetchone()
        if count and top != count - 1:
            raise LedgerError(f"ledger {self.root} has {count} rows but sequence numbers up to {top}")
        return int(count)

    def _bind(self, key: str, value: str | None) -> str | None:
        """Store a run setting the first time; afterwards insist that it matches."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            if value is not None:
                with self._transaction():
                    self._db.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
            return value
        if value is not None and row[0] != value:
            raise LedgerError(f"ledger {self.root} was written with {key}={row[0]}, this run has {key}={value}; "
                              "use a fresh folder for different settings")
        return row[0]

    def _recover(self) -> None:
        """Drop half-written shards; index complete shards whose rows a kill prevented from committing."""
        for tmp in self.shard_dir.glob("*.tmp"):
            tmp.unlink()
        indexed = {file for (file,) in self._db.execute("SELECT file FROM shards")}
        for path in sorted(self.shard_dir.glob("*.safetensors")):
            if path.name in indexed:
                continue
            if not path.stem.isdigit() or int(path.stem) != self.paid:
                raise LedgerError(f"unindexed shard {path} does not continue the log (next seq is {self.paid})")
            shard = load_file(str(path))
            meta = shard_meta(path)
            if (meta.get("clip_format"), meta.get("output_mode")) != (self.clip_format, self._mode_json()):
                raise LedgerError(f"unindexed shard {path} was written with other settings than this ledger")
            hashes = [clip_hash(c) for c in shard["clips"]]
            self._commit(path.name, hashes, shard["labels"], shard.get("probs"), float(meta["time"]), meta["backend"])
        missing = [file for file in indexed if not (self.shard_dir / file).exists()]
        if missing:
            raise LedgerError(f"ledger {self.root} is missing shard files {sorted(missing)[:5]}")

    # -- writing -----------------------------------------------------------------------------------------
    def append(self, stored: torch.Tensor, answers: Answers, backend: str) -> None:
        """Persist paid clips (in stored form) with their answers; returns only once they are durable."""
        if self.output_mode is None or self.clip_format is None or self.num_classes is None:
            raise LedgerError("open the ledger with num_classes, output_mode and clip_format before appending")
        hashes = [clip_hash(c) for c in stored]
        if len(set(hashes)) != len(hashes) or self.lookup(hashes):
            raise ValueError("clips appended to a ledger must be distinct and not already logged")
        labels = answers.labels.to(device="cpu", dtype=torch.int64).contiguous()
        tensors = {"clips": stored.detach().cpu().contiguous(), "labels": labels}
        probs = None
        if answers.probs is not None:
            probs = tensors["probs"] = answers.probs.to(device="cpu", dtype=torch.float32).contiguous()
        now = time.time()
        name = f"{self.paid:012d}.safetensors"
        meta = {"time": repr(now), "backend": backend, "clip_format": self.clip_format,
                "output_mode": self._mode_json(), "num_classes": str(self.num_classes)}
        atomic_save(tensors, self.shard_dir / name, meta)
        self._commit(name, hashes, labels, probs, now, backend)

    def _commit(self, name: str, hashes: list[bytes], labels: torch.Tensor, probs: torch.Tensor | None,
                now: float, backend: str) -> None:
        start = self.paid
        rows = [
            (start + i, h, start, now, backend, int(labels[i, 0]), labels[i].numpy().tobytes(),
             None if probs is None else probs[i].numpy().tobytes())
            for i, h in enumerate(hashes)
        ]
        with self._transaction():
            self._db.execute("INSERT INTO shards VALUES (?, ?, ?)", (start, len(hashes), name))
            self._db.executemany("INSERT INTO queries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self.paid += len(hashes)

    # -- reading -----------------------------------------------------------------------------------------
    def lookup(self, hashes: Sequence[bytes]) -> dict[bytes, Row]:
        """Logged answers for the given hashes that are in the log: hash -> (labels (k,), probs (K,) or None)."""
        found: dict[bytes, Row] = {}
        unique = list(dict.fromkeys(hashes))
        for i in range(0, len(unique), 500):
            part = unique[i : i + 500]
            sql = f"SELECT hash, labels, probs FROM queries WHERE hash IN ({','.join('?' * len(part))})"
            for h, labels, probs in self._db.execute(sql, part):
                found[h] = (torch.frombuffer(bytearray(labels), dtype=torch.int64),
                            None if probs is None else torch.frombuffer(bytearray(probs), dtype=torch.float32))
        return found

    def replay(self, batch_size: int = 64) -> Iterator[tuple[torch.Tensor, Answers]]:
        """Yield ``(clips, answers)`` batches of everything paid, in payment order, without paying again.

        Clips come back as float model input ``(B, C, T, H, W)``, exactly as the victim saw them.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if self.output_mode is None or self.clip_format is None:
            return
        buffer: list[dict[str, torch.Tensor]] = []
        held = 0
        for name, count in self._db.execute("SELECT file, count FROM shards ORDER BY start").fetchall():
            buffer.append(load_file(str(self.shard_dir / name)))
            held += count
            while held >= batch_size:
                yield self._batch(buffer, batch_size)
                held -= batch_size
        if held:
            yield self._batch(buffer, held)

    def _batch(self, buffer: list[dict[str, torch.Tensor]], n: int) -> tuple[torch.Tensor, Answers]:
        """Take the first ``n`` rows out of a list of shard dicts (mutating it)."""
        taken: list[dict[str, torch.Tensor]] = []
        while n:
            part = buffer[0]
            k = min(n, len(part["labels"]))
            taken.append({key: value[:k] for key, value in part.items()})
            rest = {key: value[k:] for key, value in part.items()}
            buffer[0:1] = [rest] if len(rest["labels"]) else []
            n -= k
        probs = torch.cat([t["probs"] for t in taken]) if "probs" in taken[0] else None
        answers = Answers(torch.cat([t["labels"] for t in taken]), probs, self.output_mode)  # type: ignore[arg-type]
        return from_stored(torch.cat([t["clips"] for t in taken]), self.clip_format or "uint8"), answers

    def export(self, path: str | Path) -> Path:
        """Write the whole log as one safetensors transfer set (clips in stored form, labels, probs).

        Holds the whole log in memory once; for logs bigger than RAM, iterate :meth:`replay` instead.
        """
        parts = [load_file(str(self.shard_dir / name)) for (name,) in
                 self._db.execute("SELECT file FROM shards ORDER BY start").fetchall()]
        if not parts:
            raise LedgerError(f"ledger {self.root} is empty; nothing to export")
        tensors = {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
        meta = {"clip_format": str(self.clip_format), "num_classes": str(self.num_classes),
                "output_mode": self._mode_json() or "", "paid": str(self.paid)}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save(tensors, path, meta)
        return path

    def hashes(self) -> list[str]:
        """Hex :func:`~vidsteal.victims.hashes.clip_hash` of every paid clip, in payment order.

        For a uint8 ledger these are the ``inputs_sha256`` the vidsteal server logs for the same clips.
        """
        return [bytes(h).hex() for (h,) in self._db.execute("SELECT hash FROM queries ORDER BY seq")]

    def _mode_json(self) -> str | None:
        return None if self.output_mode is None else _canonical(self.output_mode)

    def __len__(self) -> int:
        return self.paid

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None  # type: ignore[assignment]
            self._lock.close()  # releases the flock

    def __enter__(self) -> "QueryLedger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
