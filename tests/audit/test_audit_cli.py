"""A user's own TorchScript victim and mp4 folder, end to end through the CLI; bad specs exit 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from vidsteal.cli.app import app

runner = CliRunner()
QUICK = ["--student", "test_frame_cnn", "--set", "batch=32", "--set", "distill.eval_every=32",
         "--set", "distill.final_epochs=0.5"]


def test_evaluate_and_extract_a_user_torchscript_victim_on_user_videos(user_victim: Path, user_videos: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    result = runner.invoke(app, ["evaluate", "--victim", str(user_victim), "--test-data", str(user_videos),
                                 "--out", str(out), "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "victim_top1" in result.output and "1.0000" in result.output  # the colour victim is right on every video
    assert json.loads(out.read_text())["victim_top1"] == 1.0
    run = tmp_path / "runs" / "bb"
    args = ["extract", "blackbox", "--victim", str(user_victim), "--test-data", str(user_videos), "--method", "noise",
            "--budget", "64", "--run-dir", str(run), *QUICK]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "victim_top1" in result.output and "1.0000" in result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["metrics"]["ledger"]["paid"] == 64 and metrics["metrics"]["victim_top1"] == 1.0
    assert metrics["metrics"]["audit"]["test_clips"] == 9 and metrics["metrics"]["audit"]["audit_paid"] == 0
    assert metrics["curve"] and "top1" in metrics["curve"][-1]


def test_bad_victim_specs_exit_2_with_one_line(tmp_path: Path, user_victim: Path) -> None:
    from test_spec import _bad_specs

    for case, (spec, kwargs, expected) in _bad_specs(tmp_path, user_victim).items():
        card = ["--card", str(kwargs["card"])] if "card" in kwargs else []
        for command in (["evaluate"], ["extract", "blackbox", "--budget", "8"], ["audit", "--budget", "8"]):
            result = runner.invoke(app, [*command, "--victim", spec, *card, "--runs", str(tmp_path / "runs")])
            lines = [line for line in result.output.splitlines() if line.strip()]
            assert result.exit_code == 2, (case, command, result.output)
            assert "Traceback" not in result.output and lines[-1].startswith("error:") and expected in lines[-1], \
                (case, result.output)


def test_serve_a_user_torchscript_victim(user_victim: Path) -> None:
    from vidsteal.serve import ServeConfig, ServerThread
    from vidsteal.victims.spec import resolve_victim

    server = ServerThread(ServeConfig(model_path=user_victim)).start()
    try:
        victim = resolve_victim(server.url)
        assert victim.card.categories == ["blue", "green", "red"] and victim.oracle.num_classes == 3
        victim.close()
    finally:
        server.stop()
    result = runner.invoke(app, ["serve", "--model", str(user_victim.with_name("missing.ts"))])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_audit_a_file_victim_with_greybox_data(user_victim: Path, user_videos: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    quick = {"blackbox.batch": 32, "blackbox.distill.eval_every": 32, "blackbox.distill.final_epochs": 0.5,
             "greybox.kd.optim.epochs": 1, "greybox.kd.optim.batch_size": 8, "greybox.finetune.optim.epochs": 1,
             "greybox.finetune.optim.batch_size": 8, "greybox.lottery.target_sparsity": 0.3}
    args = ["audit", "--victim", str(user_victim), "--test-data", str(user_videos), "--budget", "64",
            "--methods", "noise", "--student", "test_frame_cnn", "--aux", str(user_videos),
            "--labeled", str(user_videos), "--labeled-fraction", "0.5", "--runs", str(runs)]
    result = runner.invoke(app, args + [a for k, v in quick.items() for a in ("--set", f"{k}={v}")])
    assert result.exit_code == 0, result.output
    (folder,) = runs.glob("audit_*")
    study = json.loads((folder / "study.json").read_text())
    assert study["victims"]["victim"]["top1"] == 1.0
    assert {"black box: noise", "grey-box KD (aux videos)", "fine-tune labeled (dense)",
            "fine-tune labeled (winning ticket)", "ticket mask, random re-init (control)"} <= set(study["rows"])
    (greybox,) = (folder / "greybox").glob("greybox_*/seed_0/metrics.json")
    stages = json.loads(greybox.read_text())["metrics"]
    assert stages["kd"]["bn_calibrated"] and stages["ticket"]["sparsity"] > 0  # KD's batch norm saw the user's videos
    assert study["rows"]["black box: noise"]["victim"]["queries"] == 64
    assert 0 < study["rows"]["grey-box KD (aux videos)"]["victim"]["queries"] <= 64
    report = (folder / "report.md").read_text()
    assert "in-process victim: none needed" in report
    noise = study["rows"]["black box: noise"]["victim"]["top1"]
    assert f"Strongest black-box attack: noise, {100 * noise:.1f}% top-1" in report  # the only one asked for


def test_audit_adds_the_ceiling_paid_on_the_users_own_clips(user_victim: Path, user_videos: Path,
                                                            tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = ["audit", "--victim", str(user_victim), "--test-data", str(user_videos), "--budget", "9", "--methods",
            "noise", "--student", "test_frame_cnn", "--ceiling-data", str(user_videos), "--runs", str(runs),
            "--set", "blackbox.batch=8", "--set", "blackbox.distill.eval_every=8",
            "--set", "blackbox.distill.final_epochs=0.5"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (folder,) = runs.glob("audit_*")
    rows = json.loads((folder / "study.json").read_text())["rows"]
    ceiling = rows["ceiling: same budget on clips of the victim's own distribution (not an attack)"]["victim"]
    assert ceiling["queries"] == rows["black box: noise"]["victim"]["queries"] == 9
    assert "ceiling: same budget" in (folder / "report.md").read_text()
    result = runner.invoke(app, [*args[:6], "12", *args[7:]])  # more queries than the folder has clips
    assert result.exit_code == 2 and "fewer than the budget" in result.output
