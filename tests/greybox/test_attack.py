"""The grey-box attack end to end on tiny sizes: stages, run folder, queries paid once, CLI."""

import csv
import json

import pytest
import torch
from typer.testing import CliRunner

from vidsteal.attacks import create_attack
from vidsteal.attacks.greybox import GreyboxConfig, GreyboxData, LotteryConfig, resolve_stages
from vidsteal.attacks.greybox.finetune import FinetuneConfig
from vidsteal.cli.app import app
from vidsteal.distill.student import DistillConfig
from vidsteal.models import create_model, save_model
from vidsteal.pipeline.greybox import GreyboxRun, run_greybox, with_victim_benchmark
from vidsteal.pruning import PruningConfig
from vidsteal.train.loop import OptimConfig

QUICK = OptimConfig(epochs=1, batch_size=16)


@pytest.fixture
def victim(tiny_bench, tmp_path):
    torch.manual_seed(0)
    model = create_model("test_c3d", num_classes=len(tiny_bench.classes()))
    card = model.card.model_copy(update={"dataset": tiny_bench.to_dict(), "categories": tiny_bench.classes()})
    return save_model(model, tmp_path / "victim.safetensors", card)


def tiny_run(victim, **attack):
    attack = {"budget": 100, "stages": ("lottery", "scratch"), **attack}
    cfg = GreyboxConfig(
        data=GreyboxData(aux_size=40, labeled_pool=60, labeled_fraction=0.2),
        kd=DistillConfig(optim=QUICK), finetune=FinetuneConfig(optim=QUICK, victim_answers=True), scratch=QUICK,
        lottery=LotteryConfig(pruning=PruningConfig(fraction=0.5), target_sparsity=0.7), **attack)
    return with_victim_benchmark(GreyboxRun(victim=str(victim), student="test_frame_cnn", test_size=24, attack=cfg))


def test_stages_pull_in_what_they_build_on():
    assert resolve_stages(["lottery"]) == ["kd", "finetune", "lottery"]
    assert resolve_stages(["scratch", "kd"]) == ["kd", "scratch"]
    with pytest.raises(ValueError, match="unknown stages"):
        resolve_stages(["prune"])
    assert type(create_attack("greybox", {"budget": 5})).__name__ == "GreyboxAttack"


def test_run_folder_metrics_curve_and_free_resume(victim, tmp_path):
    cfg = tiny_run(victim)
    result = run_greybox(cfg, tmp_path / "runs")
    run_dir = cfg.run_dir(tmp_path / "runs")
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    assert {"kd", "finetune", "ticket", "reinit", "scratch", "victim_top1", "queries"} <= metrics.keys()
    labeled = metrics["finetune"]["train_clips"]
    assert labeled == 12 and metrics["queries"] == {"total": 40 + labeled, "aux": 40, "labeled": labeled}
    assert result.queries == 52 and metrics["ticket"]["sparsity"] == pytest.approx(0.75, abs=0.02)
    with open(run_dir / "sparsity_accuracy.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["kind"] for r in rows] == ["dense", "ticket", "ticket", "reinit"]
    assert all(0 <= float(r["top1"]) <= 1 for r in rows)
    # Re-running finds every stage done and every answer in the ledger: nothing is paid or trained again.
    again = run_greybox(cfg, tmp_path / "runs")
    assert again.queries == 52 and again.metrics == result.metrics
    # Asking for another control later resumes the same folder and trains only that control.
    lottery = cfg.attack.lottery.model_copy(update={"controls": ("reinit", "random_mask")})
    more = cfg.model_copy(update={"attack": cfg.attack.model_copy(update={"lottery": lottery})})
    assert more.run_dir(tmp_path / "runs") == run_dir
    extended = run_greybox(more, tmp_path / "runs")
    assert extended.metrics["ticket"] == result.metrics["ticket"] and "random_mask" in extended.metrics


def test_dense_seeds_control_is_reported_when_a_validation_split_picks(victim, tiny_bench, tmp_path):
    from vidsteal.data.embedded import make_split

    cfg = tiny_run(victim, stages=("lottery",))
    lottery = cfg.attack.lottery.model_copy(update={"controls": ("reinit", "dense_seeds")})
    cfg = cfg.model_copy(update={"attack": cfg.attack.model_copy(update={"lottery": lottery})})
    result = run_greybox(cfg, tmp_path / "runs", val_set=make_split(tiny_bench, "val", 16))
    kinds = [r["kind"] for r in result.curve]
    assert kinds.count("ticket") == 2 and kinds.count("dense_seed") == 1  # as many dense candidates as tickets
    candidates = [r for r in result.curve if r["kind"] in ("dense", "dense_seed")]
    best = result.metrics["dense_best"]
    assert best["val_top1"] == max(r["val_top1"] for r in candidates) and best["sparsity"] == 0.0
    assert result.queries == 52  # the control pays nothing


def test_budget_reserves_the_labeled_queries(victim, tmp_path):
    result = run_greybox(tiny_run(victim, budget=30, stages=("finetune",)), tmp_path / "runs")
    assert result.metrics["queries"] == {"total": 30, "aux": 18, "labeled": 12}


def test_cli_greybox(victim, tmp_path):
    args = ["extract", "greybox", "--victim", str(victim), "--student", "test_frame_cnn", "--budget", "60",
            "--aux-size", "24", "--labeled-fraction", "0.2", "--stages", "kd,finetune", "--runs", str(tmp_path / "r")]
    for s in ["attack.data.labeled_pool=60", "test_size=24", "attack.kd.optim.epochs=1",
              "attack.finetune.optim.epochs=1"]:
        args += ["--set", s]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (metrics_path,) = (tmp_path / "r").glob("greybox_*/seed_0/metrics.json")
    metrics = json.loads(metrics_path.read_text())
    assert metrics["queries"] == 24 and "dense fine-tune" in result.output
    bad = CliRunner().invoke(app, ["extract", "greybox", "--victim", str(victim), "--set", "attack.lotery.x=1"])
    assert bad.exit_code == 2 and "attack.lotery" in bad.output
