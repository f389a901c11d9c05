"""A logged query loop killed with SIGKILL and re-run resumes without paying twice or losing a query.

Runs ``logged_query_loop.py`` (40 batches x 8 distinct clips against a saved tiny victim) in real
subprocesses: once uninterrupted as the reference, then killed and re-run in the same folder.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vidsteal.models import create_model, save_model
from vidsteal.victims import QueryLedger

HELPER = Path(__file__).with_name("logged_query_loop.py")
TOTAL = 40 * 8  # distinct clips the loop queries


def _command(weights: Path, ledger: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(HELPER), str(weights), str(ledger), str(out), *extra]


def _finish(weights: Path, ledger: Path, out: Path) -> dict[str, int]:
    done = subprocess.run(_command(weights, ledger, out), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _rows(ledger: Path) -> int:
    """Committed rows, read without opening a QueryLedger (which would recover orphan shards)."""
    with sqlite3.connect(f"file:{ledger / 'index.sqlite'}?mode=ro", uri=True) as db:
        return db.execute("SELECT COUNT(*) FROM queries").fetchone()[0]


def _contents(ledger: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    with QueryLedger(ledger) as log:
        batches = list(log.replay(batch_size=64))
        distinct = log._db.execute("SELECT COUNT(DISTINCT hash) FROM queries").fetchone()[0]
    clips = torch.cat([c for c, _ in batches])
    labels = torch.cat([a.labels for _, a in batches])
    probs = torch.cat([a.probs for _, a in batches])
    return clips, labels, probs.view(torch.int32), distinct  # int32 view: compare float bits exactly


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_model(create_model("test_c3d", num_classes=5), tmp_path_factory.mktemp("victim") / "v.safetensors")


@pytest.fixture(scope="module")
def reference(weights, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("reference")
    assert _finish(weights, root / "ledger", root / "out.safetensors") == {"paid": TOTAL, "hits": 0}
    return root / "ledger", root / "out.safetensors"


def _assert_matches_reference(ledger: Path, out: Path, reference: tuple[Path, Path]) -> None:
    got, want = _contents(ledger), _contents(reference[0])
    assert got[3] == want[3] == TOTAL  # paid == distinct clips: none paid twice, none lost
    for a, b in zip(got[:3], want[:3]):
        assert torch.equal(a, b)  # same clips, same order, bit-identical answers
    returned, expected = load_file(str(out)), load_file(str(reference[1]))
    assert torch.equal(returned["labels"], expected["labels"])
    assert torch.equal(returned["probs"].view(torch.int32), expected["probs"].view(torch.int32))


def test_sigkill_mid_run_then_resume(weights, reference, tmp_path):
    ledger, out = tmp_path / "ledger", tmp_path / "out.safetensors"
    proc = subprocess.Popen(_command(weights, ledger, out, "--delay", "0.03"), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(list((ledger / "shards").glob("*.safetensors"))) < 5:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "the query loop never got going"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and not out.exists()
    with QueryLedger(ledger) as log:
        saved = log.paid
    assert 0 < saved < TOTAL and saved % 8 == 0

    assert _finish(weights, ledger, out) == {"paid": TOTAL, "hits": saved}
    _assert_matches_reference(ledger, out, reference)


def test_sigkill_between_shard_write_and_commit(weights, reference, tmp_path):
    ledger, out = tmp_path / "ledger", tmp_path / "out.safetensors"
    killed = subprocess.run(_command(weights, ledger, out, "--die-before-commit", "10"), timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert len(list((ledger / "shards").glob("*.safetensors"))) == 10 and _rows(ledger) == 9 * 8

    # the 10th batch was paid and saved but not indexed: the re-run re-indexes it instead of paying again
    assert _finish(weights, ledger, out) == {"paid": TOTAL, "hits": 10 * 8}
    _assert_matches_reference(ledger, out, reference)
