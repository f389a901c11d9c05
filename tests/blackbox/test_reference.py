"""The ceiling row: same budget and student schedule, paid on fresh clips of the victim's own distribution."""

from __future__ import annotations

import pytest
import torch

from vidsteal.data.embedded import make_split
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.models import create_model, read_card, save_model
from vidsteal.pipeline.blackbox import run_blackbox
from vidsteal.victims import QueryLedger


def test_reference_pays_fresh_clips_of_the_victims_distribution(make_job, victim_path, tmp_path):
    out = run_blackbox(make_job("reference", 130), tmp_path / "run")
    assert out["queries"] == out["metrics"]["ledger"]["paid"] == 130
    bench = BenchmarkConfig.model_validate(read_card(victim_path).dataset)
    expected = make_split(bench, "train", 130, 100).clips  # seed 100 + attack seed 0
    victim_train = make_split(bench, "train", 130, 0).clips
    with QueryLedger(tmp_path / "run" / "queries") as ledger:
        paid = torch.cat([clips for clips, _ in ledger.replay(batch_size=1000)])
    assert paid.shape[0] == 130
    # The ledger stores what the victim saw (8-bit): the pool's clips, in order, and not the victim's training clips.
    as_uint8 = (paid.permute(0, 2, 1, 3, 4) * 255).round().to(torch.uint8) if paid.dtype != torch.uint8 else paid
    assert torch.equal(as_uint8.reshape(expected.shape), expected)
    assert not torch.equal(expected, victim_train)


def test_reference_needs_the_victims_benchmark(make_job, tmp_path):
    torch.manual_seed(0)
    model = create_model("test_c3d", num_classes=6)
    path = save_model(model, tmp_path / "plain.safetensors", model.card.model_copy(update={"frames": 4, "size": 16}))
    job = make_job("reference", 64).model_copy(update={"victim": str(path)})
    with pytest.raises(ValueError, match="victim's benchmark"):
        run_blackbox(job, tmp_path / "run")
