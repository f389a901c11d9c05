"""``vidsteal defend``: the defence matrix, in-process and through a real victim server, resumable, and what each
defence costs honest users on known inputs.

The matrix runs on a random tiny victim and 4x16x16 clips, where PRADA's test is noisy (short streams, one
predicted class): its false alarms are asserted only on real benchmark clips at the benchmark's size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from vidsteal.data.clips import to_model_input
from vidsteal.data.embedded import make_split
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.models import create_model, save_model
from vidsteal.pipeline.defend import DefendConfig, run_defend
from vidsteal.pipeline.deploy import DEFAULT_SETTINGS, THIEF, DefenceSetting, parse_setting, replay_ledger
from vidsteal.pipeline.utility import answer_stream, false_alarms, utility
from vidsteal.victims.defences import DefenceChain, NoiseConfig, NoiseDefence, PradaConfig, QueryRefused
from vidsteal.victims.ledger import QueryLedger

TINY = BenchmarkConfig(appearance_classes=4, motion_pairs=("lateral",), frames=4, size=16)  # 6 classes
QUICK: dict[str, Any] = {"batch": 32, "chunk": 64, "distill": {"eval_every": 100, "final_epochs": 0.5,
                                                                "batch_size": 32}}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # a 2-core box shared with a server thread: extra intra-op threads only contend


@pytest.fixture(scope="module")
def victim_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = create_model("test_c3d", num_classes=len(TINY.classes()))
    card = model.card.model_copy(update={"frames": TINY.frames, "size": TINY.size, "dataset": TINY.to_dict(),
                                         "categories": TINY.classes()})
    return save_model(model, tmp_path_factory.mktemp("victim") / "victim.safetensors", card)


def _config(victim: Path, **over: Any) -> DefendConfig:
    return DefendConfig.model_validate({"victim": str(victim), "test_size": 48, "budget": 96, "attacks": ["noise"],
                                        "student": "test_frame_cnn", "blackbox": QUICK, "prada": {"min_queries": 20},
                                        "honest_users": 3, "honest_queries": 40, **over})


@pytest.fixture(scope="module")
def local_matrix(victim_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    runs = tmp_path_factory.mktemp("runs")
    torch.set_num_threads(1)
    return runs, run_defend(_config(victim_path), runs)


def _cells(folder: Path) -> dict[str, Path]:
    return {p.parents[3].name: p for p in sorted(folder.glob("*/seed_0/noise/attack/queries"))}


def _ledger(root: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    ledger = QueryLedger(root)
    try:
        parts = list(ledger.replay(batch_size=1024))
    finally:
        ledger.close()
    probs = [a.probs for _, a in parts]
    return (torch.cat([c for c, _ in parts]), torch.cat([a.labels for _, a in parts]),
            None if probs[0] is None else torch.cat(probs))  # type: ignore[arg-type]


def test_matrix_covers_every_defence_with_honest_and_thief_sides(local_matrix):
    runs, result = local_matrix
    rows = {r["defence"]: r for r in result["rows"]}
    assert list(rows) == list(DEFAULT_SETTINGS) and result["test_clips"] == 48
    victim_top1 = result["victim_top1"]
    for name in ("none", "top5", "label", "round2", "noise:0.02", "noise:0.1", "prada"):
        assert rows[name]["utility_agreement"] == 1.0 and rows[name]["utility_top1"] == victim_top1, name
    # The honest user measuring utility sends all 48 test clips under one key: with PRADA blocking, a false alarm
    # (likely on streams this short) refuses the rest, and refused answers count as lost utility.
    block = rows["prada-block"]
    assert block["utility_agreement"] == pytest.approx(1 - block["honest_refused"] / 48)
    assert rows["none"]["utility_tv"] == 0.0 and rows["label"]["utility_tv"] is None
    assert 0 < rows["noise:0.02"]["utility_tv"] < rows["noise:0.1"]["utility_tv"]
    assert rows["poison:0.8"]["utility_agreement"] <= rows["poison:0.5"]["utility_agreement"] < 1.0
    # What the thief was paid with: noise, top-k and rounding keep every top-1 but move probability; poisoning
    # lies to the (low-confidence) thief's queries; label-only reveals no probabilities at all.
    assert rows["none"]["thief_changed"] == rows["prada"]["thief_changed"] == 0.0 and rows["none"]["thief_tv"] == 0.0
    for name in ("top5", "round2", "noise:0.02", "noise:0.1"):
        assert rows[name]["thief_changed"] == 0.0 and rows[name]["thief_tv"] > 0, name
    assert rows["noise:0.1"]["thief_tv"] > rows["noise:0.02"]["thief_tv"]
    assert rows["poison:0.8"]["thief_changed"] >= rows["poison:0.5"]["thief_changed"] > 0.5
    assert rows["label"]["thief_changed"] == 0.0 and rows["label"]["thief_tv"] is None
    # PRADA: the thief's stream is flagged, the honest users' real clips are not; blocking cuts the thief short.
    assert rows["prada"]["flagged_at"] is not None and rows["prada"]["queries"] == 96 and not rows["prada"]["blocked"]
    assert rows["prada-block"]["blocked"] and rows["prada-block"]["queries"] < 96
    # Flag-only PRADA changes no answer: its thief's student is the undefended cell's, paid once.
    assert rows["prada"]["answers_of"] == "none" and "answers_of" not in rows["prada-block"]
    assert rows["prada"]["student_top1"] == rows["none"]["student_top1"] and rows["prada"]["seconds"] < 5
    assert rows["prada"]["honest_fpr"] == rows["prada-block"]["honest_fpr"]
    assert 0 <= rows["prada"]["honest_fpr"] <= 1 and len(rows["prada"]["honest_flagged_at"]) == 3
    assert all(r["queries"] == 96 for n, r in rows.items() if n != "prada-block")
    folder = next(runs.glob("defend_*"))
    csv = (folder / "matrix.csv").read_text().splitlines()
    assert len(csv) == 1 + len(DEFAULT_SETTINGS) and csv[0].startswith("seed,defence,attack,utility_top1")
    report = (folder / "report.md").read_text()
    assert "Defence x attack matrix" in report and "| prada-block |" in report and "figures/tradeoff.png" in report
    assert (folder / "figures" / "tradeoff.png").stat().st_size > 1000


def test_served_matrix_answers_exactly_as_the_in_process_one(local_matrix, victim_path, tmp_path):
    """Every setting deployed in a real victim server, the attack over HTTP: the same paid answers bit for bit,
    so the same student, flag and block as the in-process DefendedOracle."""
    runs, local = local_matrix
    served = run_defend(_config(victim_path, serve=True), tmp_path)
    assert all(r["path"] == "server" for r in served["rows"])
    keys = ("student_top1", "student_agreement", "queries", "blocked", "flagged_at", "utility_top1", "honest_fpr")
    for a, b in zip(local["rows"], served["rows"]):
        assert {k: a[k] for k in keys} == {k: b[k] for k in keys}, a["defence"]
    # In-process, flag-only PRADA reuses the undefended cell (it changes no answer); the server runs it for real,
    # and the two agree above. Every other cell paid for its own stream on both paths.
    assert [r["defence"] for r in local["rows"] if r.get("answers_of")] == ["prada"]
    assert not any(r.get("answers_of") for r in served["rows"])
    here, there = _cells(next(runs.glob("defend_*"))), _cells(next(tmp_path.glob("defend_*")))
    assert set(there) == set(here) | {"prada"} and len(there) == len(DEFAULT_SETTINGS)
    for name in here:
        mine, theirs = _ledger(here[name]), _ledger(there[name])
        assert torch.equal(mine[0], theirs[0]) and torch.equal(mine[1], theirs[1]), name
        assert (mine[2] is None) == (theirs[2] is None), name
        if mine[2] is not None:
            assert torch.equal(mine[2].view(torch.int32), theirs[2].view(torch.int32)), name


def test_killed_matrix_resumes_without_paying_twice(local_matrix, victim_path, tmp_path):
    _, reference = local_matrix
    cfg = _config(victim_path)

    cell = {"now": -1}

    blocked_at = {r["defence"]: r for r in reference["rows"]}["prada-block"]["queries"]

    def kill_in_prada(label: str, done: int, total: int | None) -> None:
        """Killed when the blocking PRADA's cell has paid all it will be answered, before the block."""
        if label == "defence x attack cells":
            cell["now"] = done
        elif label == "queries" and cell["now"] == DEFAULT_SETTINGS.index("prada-block") and done >= blocked_at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_defend(cfg, tmp_path, progress=kill_in_prada)
    folder = cfg.run_dir(tmp_path)
    done_before = {p: p.stat().st_mtime_ns for p in folder.glob("*/seed_0/noise/metrics.json")}
    assert len(done_before) == DEFAULT_SETTINGS.index("prada-block")  # every cell before it finished, not it
    result = run_defend(cfg, tmp_path)
    assert {p: p.stat().st_mtime_ns for p in done_before} == done_before  # finished cells are read back
    rows = {r["defence"]: r for r in result["rows"]}
    # PRADA's memory of the thief was rebuilt from the query log, so the resumed key is blocked where it was...
    assert rows["prada-block"]["resumed_from"] == blocked_at and rows["prada-block"]["blocked"]
    for name, row in rows.items():
        assert row["queries"] == {r["defence"]: r for r in reference["rows"]}[name]["queries"], name
    by_folder = {parse_setting(name).folder: row for name, row in rows.items()}
    for name, root in _cells(folder).items():  # ...and no cell paid more than its budget, across the kill
        ledger = QueryLedger(root)
        assert ledger.paid == by_folder[name]["queries"], name
        ledger.close()
    for name in ("prada", "prada-block"):
        assert rows[name]["flagged_at"] == {r["defence"]: r for r in reference["rows"]}[name]["flagged_at"], name
    assert run_defend(cfg, tmp_path) == result  # a finished matrix is returned as is


def test_a_resumed_blocked_thief_stays_blocked(local_matrix):
    runs, _ = local_matrix
    root = _cells(next(runs.glob("defend_*")))["prada-block"]
    chain = DefenceChain.from_configs(parse_setting("prada-block", prada=PradaConfig(min_queries=20)).defences)
    assert replay_ledger(chain, root) > 0
    with pytest.raises(QueryRefused):
        chain.screen(torch.zeros(1, 3, 4, 16, 16), THIEF)
    chain.screen(torch.zeros(1, 3, 4, 16, 16), "someone_else")


def test_cli_defend_prints_the_table_and_refuses_bad_input_with_one_line(victim_path, tmp_path):
    from vidsteal.cli.app import app

    runner = CliRunner()
    base = ["defend", "--victim", str(victim_path), "--budget", "64", "--test-size", "32", "--attacks", "noise",
            "--student", "test_frame_cnn", "--runs", str(tmp_path), "--set", "honest_users=2",
            "--set", "honest_queries=20", "--set", "prada.min_queries=10"]
    quick = [a for k, v in {"blackbox.batch": 32, "blackbox.distill.final_epochs": 0.5}.items()
             for a in ("--set", f"{k}={v}")]
    result = runner.invoke(app, [*base, "--defences", "none,label,prada-block", *quick])
    assert result.exit_code == 0, result.output
    assert "Defence x attack matrix" in result.output and "prada-block" in result.output
    for bad, expected in ((["--defences", "none,noise"], "unknown defence 'noise'"),
                          (["--attacks", "magic"], "unknown attacks"),
                          (["--victim", str(tmp_path / "missing.safetensors")], "does not exist")):
        result = runner.invoke(app, [*base, *bad])
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert lines[-1].startswith("error:") and expected in result.output, result.output


# ---------------------------------------------------------------------------------- each defence on known inputs


def _probs(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def test_label_only_keeps_top1_utility_exactly():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(200, 10, generator=g), dim=1)
    labels = torch.randint(0, 10, (200,), generator=g)
    clips = torch.rand(200, 3, 2, 8, 8, generator=g)
    use = utility(parse_setting("label"), probs, clips, labels, batch=7)
    assert use["top1"] == float((probs.argmax(1) == labels).float().mean()) and use["agreement"] == 1.0
    assert use["tv"] is None and use["refused"] == 0


def test_rounding_keeps_the_argmax_where_margins_allow():
    """The revealed (rounded) probabilities keep the victim's argmax when the top-2 margin survives rounding; the
    answer's ranked labels are computed before rounding, so the served top-1 label is exact either way."""
    setting, clips = parse_setting("round2"), torch.rand(4, 3, 2, 8, 8)
    wide = _probs([[0.52, 0.30, 0.18], [0.10, 0.456, 0.444], [0.2, 0.2, 0.6]])  # margins >= 0.01
    (answers,) = answer_stream(setting, DefenceChain(), wide, clips[:3], "k", batch=3)
    assert answers is not None and torch.equal(answers.probs.argmax(1), wide.argmax(1))
    assert torch.equal(answers.probs, torch.round(wide, decimals=2))
    use = utility(setting, wide, clips[:3], torch.tensor([0, 1, 2]))
    assert use["agreement"] == 1.0 and use["top1"] == 1.0 and 0 < use["tv"] <= 0.015
    narrow = _probs([[0.3340, 0.3345, 0.3315]])  # margin 0.0005: both round to 0.33, the argmax moves to class 0
    (answers,) = answer_stream(setting, DefenceChain(), narrow, clips[:1], "k")
    assert answers is not None and int(answers.probs.argmax(1)) == 0 and int(answers.top1) == 1


@pytest.mark.parametrize("scale", [0.005, 0.02])
def test_noise_has_the_configured_std(scale: float):
    """Each probability gets N(0, scale^2); renormalising to sum 1 then removes the row mean of the noise, so on
    uniform rows over K classes the revealed change has std scale * sqrt(1 - 1/K)."""
    probs = torch.full((4000, 10), 0.1)  # far from 0 at these scales: nothing is clipped
    noisy = NoiseDefence(NoiseConfig(scale=scale, seed=3, keep_argmax=False))(probs, torch.empty(0), "k")
    assert float((noisy - probs).std()) == pytest.approx(scale * (1 - 1 / 10) ** 0.5, rel=0.02)
    assert torch.allclose(noisy.sum(1), torch.ones(4000), atol=1e-5)
    setting = DefenceSetting(name="noise", defences=[NoiseConfig(scale=scale, seed=3)])  # keeps the top-1 label
    sharp = torch.softmax(4 * torch.randn(300, 10, generator=torch.Generator().manual_seed(1)), dim=1)
    assert utility(setting, sharp, torch.rand(300, 3, 2, 8, 8), sharp.argmax(1))["agreement"] == 1.0


def _jbda_stream(seeds: torch.Tensor, n: int, eps: float = 0.02, seed: int = 0) -> torch.Tensor:
    """Synthetic queries as JbDA sends them: a few real seed clips, then rounds of small sign perturbations."""
    g = torch.Generator().manual_seed(seed)
    out = [seeds]
    while sum(len(o) for o in out) < n:
        prev = torch.cat(out)[-4 * len(seeds):]
        out.append((prev + eps * torch.sign(torch.randn(prev.shape, generator=g))).clamp(0, 1))
    return torch.cat(out)[:n]


def test_prada_flags_a_synthetic_stream_not_real_clips():
    """Seeded: five honest users sending real benchmark clips one by one are never flagged; a JbDA-style stream
    grown from eight of the same clips is, with PRADA's default settings."""
    test = make_split(BenchmarkConfig(), "test", 400)
    clips, labels = to_model_input(test.clips), test.labels
    probs = torch.nn.functional.one_hot(labels, 20).float() * 0.8 + 0.01
    prada = parse_setting("prada")
    honest = false_alarms(prada, probs, clips, users=5, queries=250, seed=0)
    assert honest is not None and honest["fpr"] == 0.0 and honest["flagged_at"] == [None] * 5
    synthetic = _jbda_stream(clips[:8], 250)
    thief = DefenceChain.from_configs(prada.defences).defences[0]
    for i in range(250):
        thief.observe(synthetic[i:i + 1], labels[i % 8:i % 8 + 1], THIEF)
    assert thief.status(THIEF)["flagged"]
    assert false_alarms(parse_setting("none"), probs, clips, 1, 10) is None


def test_seeds_run_apart_share_their_cells_when_run_together(victim_path, tmp_path):
    one = run_defend(_config(victim_path, defences=["none", "label"], seeds=[1]), tmp_path)
    cells = {p: p.stat().st_mtime_ns for p in tmp_path.glob("defend_*/*/seed_1/noise/metrics.json")}
    both = run_defend(_config(victim_path, defences=["none", "label"], seeds=[0, 1]), tmp_path)
    assert len(cells) == 2 and {p: p.stat().st_mtime_ns for p in cells} == cells  # seed 1 was read back
    assert [(r["seed"], r["defence"]) for r in both["rows"]] == [(0, "none"), (0, "label"), (1, "none"), (1, "label")]
    assert both["rows"][2:] == one["rows"] and len(list(tmp_path.glob("defend_*"))) == 1


def test_greybox_kd_joins_the_matrix_with_aux_videos(victim_path, tmp_path):
    cfg = _config(victim_path, defences=["none", "label", "prada-block"], attacks=[], aux="embedded", budget=80,
                  greybox={"data": {"aux_size": 80}, "kd": {"optim": {"epochs": 1, "batch_size": 16}}})
    rows = {r["defence"]: r for r in run_defend(cfg, tmp_path)["rows"]}
    assert all(r["attack"] == "kd" for r in rows.values()) and rows["none"]["queries"] == rows["label"]["queries"] == 80
    assert all(0 <= r["student_top1"] <= 1 and r["student_agreement"] is not None for r in rows.values())
    block = rows["prada-block"]  # aux clips are natural videos: PRADA tests the stream and lets it through
    assert block["thief_w"] is not None and block["flagged_at"] is None
    assert not block["blocked"] and block["queries"] == 80
    assert block["answers_of"] == "none" and block["student_top1"] == rows["none"]["student_top1"]  # unblocked: reused


def test_the_in_domain_thief_joins_the_matrix_and_unflagged_prada_reuses_its_stream(victim_path, tmp_path):
    """``reference`` pays for clips of the victim's own distribution; a PRADA that never flags (or blocks) that
    stream changes no answer, so both PRADA cells are the undefended cell's stream, paid once, with their own
    (empty) flag point; the thief signal is measured on that stream."""
    cfg = _config(victim_path, defences=["none", "prada", "prada-block"], attacks=["reference"],
                  prada={"min_queries": 10_000})
    result = run_defend(cfg, tmp_path)
    rows = {r["defence"]: r for r in result["rows"]}
    assert all(r["attack"] == "reference" and r["queries"] == 96 for r in rows.values())
    for name in ("prada", "prada-block"):
        row = rows[name]
        assert row["answers_of"] == "none" and row["flagged_at"] is None and not row["blocked"], name
        assert row["student_top1"] == rows["none"]["student_top1"] and row["thief_changed"] == 0.0, name
    assert len(list(tmp_path.glob("defend_*/*/seed_0/reference/attack/queries"))) == 1  # only 'none' paid
    with pytest.raises(ValueError, match="unknown attacks"):
        _config(victim_path, attacks=["ceiling"])


def test_a_remote_victim_is_defended_on_the_owners_side(victim_path, tmp_path):
    """An http:// victim revealing full probabilities and the owner's videos: the victim's answers on them are paid
    once as audit queries, the defences wrap its answers in-process; --serve needs a model file."""
    from vidsteal.data.export import export_clips
    from vidsteal.serve import ServeConfig, ServerThread

    videos = tmp_path / "videos"
    export_clips(make_split(TINY, "test", 24), videos)
    with ServerThread(ServeConfig(model_path=victim_path)) as server:
        cfg = _config(server.url, test_data=str(videos), defences=["none", "label"])
        remote = run_defend(cfg, tmp_path / "runs")
        with pytest.raises(ValueError, match="--serve deploys the victim in a local server"):
            run_defend(cfg.model_copy(update={"serve": True}), tmp_path / "runs")
    assert remote["audit"]["audit_paid"] == remote["test_clips"] == 24
    rows = {r["defence"]: r for r in remote["rows"]}
    assert rows["none"]["queries"] == rows["label"]["queries"] == 96
    assert rows["label"]["utility_agreement"] == 1.0 and rows["label"]["utility_top1"] == remote["victim_top1"]
