import re

import pytest
import torch

from vidsteal.report.plots import clip_grid, curves_plot, sparsity_plot
from vidsteal.report.render import rerender, write_report
from vidsteal.report.study import Cell, Figure, Study, VictimInfo


def _study() -> Study:
    return Study(
        title="t", command="vidsteal demo --quick", seeds=[0, 1],
        victims={"c3d_small": VictimInfo(arch="c3d_small", student="frame_cnn", top1=0.93, ceiling_top1=0.6)},
        rows={"black-box distil": {"c3d_small": Cell(top1=0.412, agreement=0.45, queries=20000, top1_std=0.02,
                                                       seeds=2)}},
        figures=[Figure(title="curves", file="curves.png"), Figure(title="clips", file="clips.png")],
    )


def test_report_files_hold_the_study_numbers(tmp_path):
    figures = {
        "curves.png": curves_plot({"embeddings": [{"queries": 100, "top1": 0.2}, {"queries": 200, "top1": 0.3}]},
                                  "c3d", victim_top1=0.9),
        "clips.png": clip_grid([("a", torch.randint(0, 255, (4, 3, 16, 16), dtype=torch.uint8))]),
    }
    md, page = write_report(_study(), tmp_path, figures)
    text, html = md.read_text(), page.read_text()
    for doc in (text, html):
        assert "41.2% ± 2.0 / 45.0% / 20,000" in doc and "93.0%" in doc and "12.4%" in doc  # ours + reference
    assert "](figures/curves.png)" in text
    assert len(re.findall(r"src='data:image/png;base64,", html)) == 2
    assert sparsity_plot({"winning": [{"sparsity": 0.2, "top1": 0.5}]}, "s")[:4] == b"\x89PNG"
    md.unlink()
    rerender(tmp_path)
    assert md.read_text() == text


def test_missing_figure_and_missing_study_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="curves.png"):
        write_report(_study(), tmp_path)
    with pytest.raises(FileNotFoundError, match="no study.json"):
        rerender(tmp_path / "nothing")


def test_report_says_what_each_attack_paid_and_how_far_its_search_got(tmp_path):
    from vidsteal.report.study import Spent

    study = _study().model_copy(update={"figures": [], "spent": [
        Spent(pair="c3d_small-frame_cnn", method="embeddings", seed=s, budget=2500, paid=2500, classes=20,
              classes_reached=r, threshold=0.9, search_queries=q) for s, r, q in ((0, 14, 1000), (1, 15, 900))]
        + [Spent(pair="c3d_small-frame_cnn", method="noise", seed=0, budget=2500, paid=2500)]})
    md, page = write_report(study, tmp_path)
    for doc in (md.read_text(), page.read_text()):
        assert "What each attack did" in doc and "2,500 / 2,500" in doc
        assert "14/20 at 0.90; 15/20 at 0.90" in doc and "1,000; 900" in doc
    row = next(line for line in md.read_text().splitlines() if "| embeddings |" in line)
    assert row.startswith("| c3d_small-frame_cnn | embeddings | 0, 1 |")
    noise = next(line for line in md.read_text().splitlines() if "| noise |" in line)
    assert noise.endswith("| – | – |")  # no search: nothing claimed
