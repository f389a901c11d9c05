import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from vidsteal.cli.app import app

runner = CliRunner()


def test_train_victim_then_evaluate(tmp_path):
    sets = ["arch=test_c3d", "train_size=64", "test_size=32", "optim.epochs=1", "optim.batch_size=16",
            "benchmark.frames=4", "benchmark.size=16", "benchmark.shapes=[square,cross]", "benchmark.motions=[cw,ccw]"]
    args = ["train-victim", "--runs", str(tmp_path)]
    for s in sets:
        args += ["--set", s]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (run,) = tmp_path.glob("train_test_c3d_*")
    weights = run / "model.safetensors"
    out = tmp_path / "eval.json"
    result = runner.invoke(app, ["evaluate", str(weights), "--reference", str(weights), "--test-size", "24",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["n"] == 24 and metrics["agreement"] == 1.0 and metrics["reference_top1"] == metrics["top1"]


def test_bad_override_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["train-victim", "--runs", str(tmp_path), "--set", "optim.epoch=3"])
    assert result.exit_code == 2 and "optim.epoch" in result.output


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vidsteal.cli", "labeled-baselines", "--quick", "--runs", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (summary_path,) = tmp_path.glob("baselines_*/summary.json")
    summary = json.loads(summary_path.read_text())
    assert [r["role"] for r in summary["rows"]][0] == "victim"
    assert all(0 <= r["top1"] <= 1 for r in summary["rows"])


def test_serve_command_answers_health_and_queries(tmp_path):
    import socket
    import time

    import httpx
    import torch

    from vidsteal.models import create_model, save_model
    from vidsteal.serve import hash_key

    weights = save_model(create_model("test_c3d", num_classes=4), tmp_path / "v.safetensors")
    (tmp_path / "keys.yaml").write_text(f"keys:\n  - name: alice\n    sha256: {hash_key('secret-alice')}\n    budget: 5\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "vidsteal.cli", "serve", "--model", str(weights), "--keys",
                             str(tmp_path / "keys.yaml"), "--port", str(port), "--set", "frames=4", "--set", "size=16"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(url + "/v2/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("server did not become ready")
        from vidsteal.victims.http import HttpOracle

        oracle = HttpOracle(url, "secret-alice")
        answers = oracle.query(torch.rand(3, 3, 4, 16, 16))
        assert len(answers) == 3 and answers.probs.shape == (3, 4)
        assert httpx.post(url + "/v1/query", json={}, headers={"X-API-Key": "wrong"}).status_code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=20)
