"""The run-folder model (vidsteal.runs): atomic writes, the finished marker, names, and a SIGKILL mid-write."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field

from vidsteal import runs
from vidsteal.config import BaseConfig
from vidsteal.train.supervised import SupervisedConfig

WORKER = Path(__file__).with_name("train_then_write.py")


class Old(BaseConfig):
    arch: str = "a"
    lr: float = 0.1


class New(Old):
    width: int = Field(16, description="a field added later, with a default")


def test_hash_covers_non_default_values_only():
    assert New(lr=0.2).hash() == Old(lr=0.2).hash()  # a new field with a default renames no run folder
    assert New(lr=0.2, width=8).hash() != Old(lr=0.2).hash()
    assert Old().hash() == Old(arch="a").hash() != Old(arch="b").hash()
    assert SupervisedConfig(optim={"epochs": 3}).hash() != SupervisedConfig().hash()


def test_folders_named_by_the_older_all_values_hash_are_found(tmp_path):
    cfg = SupervisedConfig(arch="test_c3d", seed=3)
    fresh = runs.train_folder(tmp_path, cfg)
    assert fresh.name == f"train_test_c3d_{cfg.hash()}" and not fresh.exists()
    old = tmp_path / f"train_test_c3d_{cfg.hash(full=True)}"
    old.mkdir()
    assert runs.train_folder(tmp_path, cfg) == old
    fresh.mkdir()  # once a folder by today's name exists, it wins
    assert runs.train_folder(tmp_path, cfg) == fresh


def test_a_run_made_before_a_default_changed_is_found_by_spelling_the_old_value_out(tmp_path):
    before = tmp_path / "job_0123abcd"  # named when lr=0.2 was the default: its hash left lr out
    runs.open_run(before, Old(lr=0.2))
    (tmp_path / "job_feedbeef").mkdir()  # a folder without a config is never taken for a run
    assert runs.named(tmp_path, "job", Old(lr=0.2)) == before
    assert runs.named(tmp_path, "job", Old(lr=0.3)) == tmp_path / f"job_{Old(lr=0.3).hash()}"  # another run
    today = tmp_path / f"job_{Old(lr=0.2).hash()}"
    today.mkdir()  # once a folder by today's name exists, it wins
    assert runs.named(tmp_path, "job", Old(lr=0.2)) == today


def test_open_run_refuses_another_config_and_reads_old_files_through_todays_schema(tmp_path):
    runs.open_run(tmp_path / "r", Old(lr=0.2))
    assert runs.open_run(tmp_path / "r", New(lr=0.2)) == tmp_path / "r"  # the added field takes its default
    with pytest.raises(runs.RunMismatch, match="different"):
        runs.open_run(tmp_path / "r", New(lr=0.3))
    # A default that changed since: the saved file holds the old value, so re-opening is an error, not a reuse.
    (tmp_path / "r" / runs.CONFIG).write_text("arch: a\nlr: 0.2\nwidth: 32\n")
    with pytest.raises(runs.RunMismatch):
        runs.open_run(tmp_path / "r", New(lr=0.2))


def test_atomic_write_leaves_no_tmp_and_finished_reads_the_marker(tmp_path):
    assert runs.finished(tmp_path) is None
    runs.finish(tmp_path, {"top1": 0.5})
    runs.finish(tmp_path, {"top1": 0.75})  # replaced whole
    assert runs.finished(tmp_path) == {"top1": 0.75}
    assert sorted(p.name for p in tmp_path.iterdir()) == [runs.METRICS]
    runs.write_csv([{"a": 1, "b": 2, "c": 3}, {"a": 4}], tmp_path / "x.csv", ["a", "b"])
    assert (tmp_path / "x.csv").read_text().splitlines() == ["a,b", "1,2", "4,"]


def _run(folder: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), str(folder), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.timeout(300)
def test_sigkill_while_metrics_json_is_written_then_rerun_finishes_right(tmp_path):
    reference = _run(tmp_path / "reference")
    out, err = reference.communicate(timeout=240)
    assert reference.returncode == 0, err
    expected = json.loads(out.strip().splitlines()[-1])

    killed = _run(tmp_path / "run", "--pause-in-metrics")
    assert killed.stdout.readline().strip() == "PAUSED", killed.stderr.read()  # half of metrics.json is on disk
    killed.kill()  # SIGKILL: no handler, no cleanup
    killed.wait(timeout=30)
    assert killed.returncode == -9
    partial = list((tmp_path / "run").glob(".metrics.json.*.tmp"))
    assert len(partial) == 1 and partial[0].stat().st_size > 0  # the kill hit the write, not before it
    with pytest.raises(json.JSONDecodeError):
        json.loads(partial[0].read_text())  # truncated: the file a non-atomic write would have left behind
    assert runs.finished(tmp_path / "run") is None  # ... but the run reads as unfinished, never as that file

    rerun = _run(tmp_path / "run")
    out, err = rerun.communicate(timeout=240)
    assert rerun.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == expected
    assert {k: runs.finished(tmp_path / "run")[k] for k in expected} == expected
