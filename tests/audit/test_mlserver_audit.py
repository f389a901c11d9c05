"""A user's TorchScript victim behind a real MLServer, audited end to end over the Open Inference Protocol."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest
from audit_support import CLASSES, FRAMES, SIZE
from mlserver_support import MLSERVER_VENV, start_mlserver, stop
from typer.testing import CliRunner

from vidsteal.cli.app import app
from vidsteal.pipeline.measure import AUDIT_QUERIES
from vidsteal.victims.ledger import QueryLedger
from vidsteal.victims.spec import resolve_victim


@pytest.fixture(scope="module")
def colour_endpoint(user_victim: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (MLSERVER_VENV / "bin" / "mlserver").exists():
        pytest.skip(f"{MLSERVER_VENV} is absent: `bash scripts/mlserver_venv.sh` creates it (MLServer tests)")
    url, proc = start_mlserver([user_victim, user_victim.with_name("victim.card.yaml")],
                               tmp_path_factory.mktemp("mlserver"), name="colour")
    try:
        yield f"oip+{url}/v2/models/colour"
    finally:
        stop(proc)


def test_endpoint_card_comes_from_metadata_and_clips_go_as_uint8(colour_endpoint: str) -> None:
    victim = resolve_victim(colour_endpoint)
    try:
        assert victim.remote and victim.oracle.input_datatype == "UINT8"
        assert (victim.card.categories, victim.card.frames, victim.card.size) == (CLASSES, FRAMES, SIZE)
    finally:
        victim.close()


def test_audit_an_mlserver_endpoint_on_user_videos(colour_endpoint: str, user_videos: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = ["audit", "--victim", colour_endpoint, "--test-data", str(user_videos), "--budget", "64",
            "--methods", "noise", "--student", "test_frame_cnn", "--runs", str(runs),
            "--set", "blackbox.batch=32", "--set", "blackbox.distill.eval_every=32",
            "--set", "blackbox.distill.final_epochs=0.5"]
    for attempt in range(2):  # the second run resumes: nothing is paid again
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "victim's own top-1" in result.output and "100.0%" in result.output
        (folder,) = [p for p in runs.glob("audit_*") if p.name != AUDIT_QUERIES]
        assert (folder / "report.html").exists() and (folder / "report.md").exists()
        study = json.loads((folder / "study.json").read_text())
        assert study["victims"]["victim"]["top1"] == 1.0 and study["rows"]["black box: noise"]["victim"]["queries"] == 64
        (audit_ledger,) = (runs / AUDIT_QUERIES).iterdir()
        with QueryLedger(audit_ledger) as audit, QueryLedger(folder / "blackbox" / "noise" / "queries") as attack:
            assert (audit.paid, attack.paid) == (9, 64)  # 9 test videos measured once; the attack's own 64
        assert f"{9 if attempt == 0 else 0} paid by this run" in result.output
