"""``vidsteal extract blackbox`` writes a complete run folder and refuses gradient mode on bad input clearly."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vidsteal.cli.app import app


def test_cli_blackbox_run_folder(victim_path, tmp_path):
    args = ["extract", "blackbox", "--victim", str(victim_path), "--student", "test_frame_cnn", "--budget", "120",
            "--method", "noise", "--test-size", "24", "--run-dir", str(tmp_path / "run"),
            "--set", "batch=40", "--set", "distill.eval_every=60", "--set", "distill.final_epochs=0.5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["queries"] == 120 and metrics["metrics"]["method"] == "noise"
    assert (tmp_path / "run" / "curve.csv").read_text().count("\n") == len(metrics["curve"]) + 1
    assert (tmp_path / "run" / "samples" / "all.png").exists()
    assert (tmp_path / "run" / "student.safetensors").exists()


def test_cli_rejects_unknown_config_key(victim_path, tmp_path):
    args = ["extract", "blackbox", "--victim", str(victim_path), "--budget", "10", "--method", "embeddings",
            "--set", "search.treshold=0.5", "--run-dir", str(tmp_path / "run")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "treshold" in result.output
