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

Clips are hashed (sha256 over dtype, shape and bytes) in the form they are stored, by default 8-bit
``(T, C, H, W)`` as in the dataset contract; :class:`LoggedOracle` then sends the victim exactly that 8-bit
clip, so what the log holds is exactly what was queried and a replay is exact.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from vidsteal.data.clips import to_model_input, to_uint8_clips
from vidsteal.victims.base import Oracle, OracleError
from vidsteal.victims.budget import BudgetExceeded, QueryBudget
from vidsteal.victims.outputs import Answers, OutputMode

SCHEMA_VERSION = "1"
CLIP_FORMATS = ("uint8", "float32")
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


def clip_hash(clip: torch.Tensor) -> bytes:
    """sha256 over dtype, shape and bytes of one stored clip: the identity of a query."""
    clip = clip.detach().cpu().contiguous()
    digest = hashlib.sha256(f"{clip.dtype}|{tuple(clip.shape)}|".encode())
    digest.update(clip.numpy())
    return digest.digest()


def to_stored(clips: torch.Tensor, clip_format: str) -> torch.Tensor:
    """Float model input -> the form the ledger hashes and keeps (uint8 ``(B, T, C, H, W)`` or float32 as is)."""
    if clip_format == "uint8":
        return to_uint8_clips(clips)
    return clips.detach().to(device="cpu", dtype=torch.float32, copy=True).contiguous()


def from_stored(stored: torch.Tensor, clip_format: str) -> torch.Tensor:
    return to_model_input(stored) if clip_format == "uint8" else stored


def _canonical(mode: OutputMode) -> str:
    """Output mode as sorted-key JSON: equal modes give equal strings whatever the pydantic version."""
    return json.dumps(mode.to_dict(), sort_keys=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Write a safetensors file so that ``path`` either does not exist or is complete, even across power loss."""
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


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
            meta = _shard_meta(path)
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
        _atomic_save(tensors, self.shard_dir / name, meta)
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
        _atomic_save(tensors, path, meta)
        return path

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


def _shard_meta(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


class LoggedOracle(Oracle):
    """Any oracle, behind a durable log and an optional budget; attacks use it like any other oracle.

    Per batch: clips already in the log are answered from it for free (:attr:`hits`); the distinct unseen
    clips go to the backend in chunks of at most ``shard_size``, and each chunk is saved durably before any
    answer is returned. :attr:`paid` counts queries paid for across all resumes of the same folder, and the
    budget applies to it, with the prefix policy of :mod:`vidsteal.victims.budget`. Not ``differentiable``:
    white-box access goes to a :class:`~vidsteal.victims.local.LocalOracle` directly, bypassing the log.

    Args:
        backend: the victim that is paid for answers.
        root: the ledger's folder; reopening it resumes the run.
        budget: caps :attr:`paid`; on resume it is charged with what the log already holds.
        quantize: send and store 8-bit clips (the default, as a video service receives them). Turn off only
            for attacks whose queries differ by less than 1/255 (zeroth-order gradient estimates); clips are
            then stored as float32, four times larger.
        shard_size: most clips per backend call and per shard file; a kill loses at most one chunk in flight.
    """

    def __init__(self, backend: Oracle, root: str | Path, budget: QueryBudget | None = None, quantize: bool = True,
                 shard_size: int = 256) -> None:
        super().__init__(backend.num_classes, backend.output_mode)
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.backend = backend
        self.backend_name = str(backend.info().get("backend", type(backend).__name__))
        self.clip_format = "uint8" if quantize else "float32"
        self.ledger = QueryLedger(root, backend.num_classes, backend.output_mode, self.clip_format)
        self.budget = budget
        if budget is not None:
            budget.restore(self.ledger.paid)
        self.shard_size = shard_size
        self.hits = 0

    @property
    def paid(self) -> int:
        return self.ledger.paid

    def _answer(self, clips: torch.Tensor) -> Answers:
        stored = to_stored(clips, self.clip_format)
        hashes = [clip_hash(c) for c in stored]
        known = self.ledger.lookup(hashes)
        unseen: dict[bytes, int] = {}  # distinct unseen clips -> first position, in batch order
        for i, h in enumerate(hashes):
            if h not in known and h not in unseen:
                unseen[h] = i
        fresh = list(unseen.items())
        answered = len(hashes)
        fit = len(fresh) if self.budget is None else self.budget.fits(len(fresh))
        if fit < len(fresh):  # prefix policy: stop just before the first unseen clip that does not fit
            answered, fresh = fresh[fit][1], fresh[:fit]
        for c in range(0, len(fresh), self.shard_size):
            chunk = fresh[c : c + self.shard_size]
            index = torch.tensor([i for _, i in chunk])
            try:
                answers = self.backend.query(from_stored(stored[index], self.clip_format))
            except OracleError as err:
                self._keep_partial(err, stored[index])
                raise
            self._check(answers, len(chunk))
            self.ledger.append(stored[index], answers, self.backend_name)
            if self.budget is not None:
                self.budget.spend(len(chunk))
            known.update(self.ledger.lookup([h for h, _ in chunk]))  # answer with exactly what was saved
        self.hits += answered - len(fresh)
        result = self._assemble([known[h] for h in hashes[:answered]])
        if answered < len(hashes):
            assert self.budget is not None
            self.queries += answered
            raise BudgetExceeded(self.budget.limit, self.budget.spent, len(hashes), answered, result)
        assert result is not None
        return result

    def _keep_partial(self, err: OracleError, sent: torch.Tensor) -> None:
        """A backend that failed mid-batch may still have been paid for part of it (a remote budget ran out, a
        later request failed): log every answer the error carries before it propagates, so none is lost."""
        parts = [(0, getattr(err, "answers", None))] + list(getattr(err, "paid_beyond_prefix", []))
        for offset, answers in parts:
            if answers is None or len(answers) == 0:
                continue
            rows = sent[offset : offset + len(answers)]
            self._check(answers, rows.shape[0])
            self.ledger.append(rows, answers, self.backend_name)
            if self.budget is not None:
                self.budget.spend(rows.shape[0])

    def _check(self, answers: Answers, n: int) -> None:
        """Refuse to log garbage: wrong count, shape or mode, labels out of range, non-finite probabilities."""
        problem = None
        if len(answers) != n or answers.labels.ndim != 2:
            problem = f"{len(answers)} label rows of shape {tuple(answers.labels.shape)} for {n} clips"
        elif answers.mode != self.output_mode:
            problem = f"output mode {answers.mode.to_dict()} instead of {self.output_mode.to_dict()}"
        elif answers.labels.numel() and not 0 <= answers.labels.min() <= answers.labels.max() < self.num_classes:
            problem = f"labels outside [0, {self.num_classes})"
        elif self.output_mode.has_scores and (answers.probs is None or answers.probs.shape != (n, self.num_classes)):
            problem = f"probabilities of shape {None if answers.probs is None else tuple(answers.probs.shape)}"
        elif answers.probs is not None and not torch.isfinite(answers.probs).all():
            problem = "NaN/Inf probabilities"
        if problem:
            raise OracleError(f"victim {self.backend_name} returned {problem}; nothing was logged for this chunk")

    def _assemble(self, rows: list[Row]) -> Answers | None:
        if not rows:
            return None
        probs = None if rows[0][1] is None else torch.stack([p for _, p in rows])  # type: ignore[misc]
        return Answers(torch.stack([labels for labels, _ in rows]), probs, self.output_mode)

    def info(self) -> dict[str, Any]:
        budget = None if self.budget is None else {"limit": self.budget.limit, "spent": self.budget.spent}
        return {**super().info(), "ledger": str(self.ledger.root), "paid": self.paid, "hits": self.hits,
                "budget": budget, "clip_format": self.clip_format, "backend_info": self.backend.info()}

    def close(self) -> None:
        self.ledger.close()

    def __enter__(self) -> "LoggedOracle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
