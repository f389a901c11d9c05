import json
import re
import subprocess
import sys

import pytest


@pytest.mark.timeout(900)
def test_demo_quick_writes_a_report_consistent_with_its_metrics(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vidsteal.cli", "demo", "--quick", "--runs", str(tmp_path)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = tmp_path.glob("*-demo_*")  # runs/<timestamp>-demo_<config hash>
    study = json.loads((run / "study.json").read_text())
    md, page = (run / "report.md").read_text(), (run / "report.html").read_text()
    assert "vidsteal demo --quick" in md  # the exact command to reproduce
    assert len(re.findall(r"src='data:image/png;base64,", page)) == len(study["figures"]) >= 2
    # Every cell of the study appears, formatted, in both documents; and it matches the attack's own metrics.
    for method, cells in study["rows"].items():
        for victim, cell in cells.items():
            assert f"{100 * cell['top1']:.1f}%" in md and method in page
    (bb,) = (run / "blackbox").glob("*_embeddings_seed0")
    metrics = json.loads((bb / "metrics.json").read_text())
    row = study["rows"]["black-box distil (class embeddings, query-only)"]
    assert row[next(iter(row))]["top1"] == pytest.approx(metrics["metrics"]["top1"])
    assert row[next(iter(row))]["queries"] == metrics["queries"] <= study["config"]["blackbox_budget"]
    # The account: every run's paid queries (equal to its query log) against its budget, the search's outcome.
    spent = {(r["method"], r["seed"]): r for r in study["spent"]}
    assert spent[("embeddings", 0)]["paid"] == metrics["metrics"]["ledger"]["paid"] == metrics["queries"]
    assert spent[("embeddings", 0)]["budget"] == study["config"]["blackbox_budget"]
    search = metrics["metrics"]["search"]
    assert spent[("embeddings", 0)]["classes_reached"] == search["classes_reached"]
    assert spent[("embeddings", 0)]["search_queries"] == search["search_queries"]
    assert {"noise", "dfme", "ceiling", "grey box"} <= {method for method, _ in spent}
    assert "What each attack did" in md and "chosen on the benchmark's val split" in md
    rerun = subprocess.run([sys.executable, "-m", "vidsteal.cli", "report", str(run)], capture_output=True, text=True)
    assert rerun.returncode == 0 and (run / "report.md").read_text() == md
    # The ceiling sits beside the victim: the same student and budget on the victim's own distribution.
    (ceiling,) = (run / "blackbox").glob("*_ceiling_seed0")
    ceiling_top1 = json.loads((ceiling / "metrics.json").read_text())["metrics"]["top1"]
    (victim,) = study["victims"].values()
    assert victim["ceiling_top1"] == pytest.approx(ceiling_top1)
    assert f"{100 * ceiling_top1:.1f}%" in md


def test_configs_demo_yaml_is_what_vidsteal_demo_runs():
    from pathlib import Path

    from vidsteal.config import load_config
    from vidsteal.pipeline.study import StudyConfig

    path = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
    assert load_config(StudyConfig, path, []) == StudyConfig()


def test_study_folder_is_timestamped_and_found_again_by_config(tmp_path):
    from vidsteal.pipeline.study import StudyConfig
    from vidsteal.runs import study_folder

    cfg = StudyConfig.quick()
    first = study_folder(tmp_path, cfg, now=0)
    assert first.name.endswith(f"-demo_{cfg.hash()}") and first.name[:8].isdigit()
    first.mkdir()
    assert study_folder(tmp_path, cfg, now=10**9) == first  # resumes instead of starting a new folder
    other = cfg.model_copy(update={"blackbox_budget": 300})
    assert study_folder(tmp_path, other, now=10**9).name != first.name


def test_a_study_folder_made_before_a_default_changed_is_not_resumed(tmp_path):
    # The folder name hashes non-default values only: after a new demo recipe the old folder has the same name,
    # and resuming it would stop every demo with a config mismatch. A new folder starts beside it instead.
    from vidsteal.pipeline.study import StudyConfig
    from vidsteal.runs import save_config, study_folder

    cfg = StudyConfig.quick()
    old = study_folder(tmp_path, cfg, now=0)
    old.mkdir()
    save_config(cfg.model_copy(update={"blackbox_budget": 300}), old / "config.yaml")  # what the old default made
    new = study_folder(tmp_path, cfg, now=10**9)
    assert new != old and new.name.endswith(old.name.split("-", 2)[-1])
    (old / "config.yaml").write_text("pairs: {not: a list}\n")  # unreadable through today's schema: not resumed
    assert study_folder(tmp_path, cfg, now=10**9) != old
    save_config(cfg, old / "config.yaml")
    assert study_folder(tmp_path, cfg, now=10**9) == old
