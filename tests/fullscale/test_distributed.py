"""Data parallelism: 2 gloo ranks under torchrun (with a crash and a resume, and accumulation) train the same
weights as one process with the same global batch; victim queries go through rank 0 only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vidsteal.data.embedded import make_split
from vidsteal.models import create_model
from vidsteal.train.distributed import Runtime
from vidsteal.victims import LocalOracle

sys.path.insert(0, str(Path(__file__).parent))
import ddp_worker  # noqa: E402

WORKER = Path(__file__).with_name("ddp_worker.py")


def _torchrun(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER),
           "--out", str(tmp_path), *args]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_two_ranks_with_crash_resume_and_accumulation_match_one_process(tmp_path):
    reference = ddp_worker.train(None)

    crashed = _torchrun(tmp_path, "--ckpt", str(tmp_path / "ckpt"), "--crash-at", "1", "--ledger",
                        str(tmp_path / "ledger"))
    assert crashed.returncode != 0, crashed.stdout + crashed.stderr
    assert json.loads((tmp_path / "ckpt" / "state.json").read_text())["epoch"] == 0  # rank 0 wrote epoch 0

    # Resume on the same 2 ranks, now with 2 micro-batches per rank: the checkpoint does not depend on how it runs.
    resumed = _torchrun(tmp_path, "--ckpt", str(tmp_path / "ckpt"), "--accumulate", "2")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-4000:]
    weights = load_file(str(tmp_path / "weights.safetensors"))
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(weights[key], value, rtol=1e-4, atol=1e-5, msg=key)

    # Rank-0-only querying: each rank got the answers for its own clips; the ledger was paid once per clip; the
    # query that crossed the 7-query budget answered its first 2 clips (rank 0's) and raised on both ranks.
    torch.manual_seed(5)
    direct = LocalOracle(create_model("test_c3d", num_classes=6))
    clips = make_split(ddp_worker.BENCH, "test", 10).clips[:5].permute(0, 2, 1, 3, 4).float() / 255
    results = [json.loads((tmp_path / f"answers_{rank}.json").read_text()) for rank in (0, 1)]
    got = torch.tensor(results[0]["probs"] + results[1]["probs"])
    torch.testing.assert_close(got, direct.query(clips).probs, rtol=1e-5, atol=1e-6)
    assert [r["answered_past_budget"] for r in results] == [2, 0]
    assert json.loads((tmp_path / "ledger_paid.json").read_text()) == 7


def test_accumulation_in_one_process_matches_full_batches():
    full = ddp_worker.train(Runtime("cpu", precision="32"))
    accumulated = ddp_worker.train(Runtime("cpu", precision="32", accumulate=3))
    for key, value in full.state_dict().items():
        torch.testing.assert_close(accumulated.state_dict()[key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_bf16_autocast_trains_on_cpu():
    model = ddp_worker.train(Runtime("cpu", precision="bf16"))  # fit raises if the loss is not finite
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast keeps float32 master weights


def test_runtime_rejects_bad_settings():
    with pytest.raises(ValueError, match="needs a CUDA device"):
        Runtime("cpu", precision="16")
    with pytest.raises(ValueError, match="accumulate"):
        Runtime("cpu", accumulate=0)
    assert Runtime("cpu").amp_dtype is None  # auto: full precision off the GPU
