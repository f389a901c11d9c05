"""The ceiling of a victim vidsteal did not train: paid on a folder of the victim's own kind of clips."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vidsteal.data.sources import DataSpecError, resolve_aux
from vidsteal.pipeline.blackbox import BlackboxJob, run_blackbox
from vidsteal.victims import QueryLedger
from vidsteal.victims.spec import resolve_victim


def _job(victim: Path, videos: Path, data: Path, budget: int) -> BlackboxJob:
    attack = {"budget": budget, "source": "train", "data": str(data), "batch": 4,
              "distill": {"batch_size": 4, "eval_every": 4, "final_epochs": 0.5}}
    return BlackboxJob(victim=str(victim), student="test_frame_cnn", method="reference", attack=attack,
                       test_data=str(videos))


def test_the_ceiling_pays_each_clip_of_the_users_folder_once(user_victim: Path, user_videos: Path,
                                                           tmp_path: Path) -> None:
    out = run_blackbox(_job(user_victim, user_videos, user_videos, 7), tmp_path / "run")
    assert out["metrics"]["ledger"] == {"paid": 7, "hits": 0} and out["metrics"]["victim_top1"] == 1.0
    card = resolve_victim(user_victim).card
    expected = torch.stack([clip for clip, _ in resolve_aux(user_videos, card, 7, seed=100)])  # seed 100 + seed 0
    with QueryLedger(tmp_path / "run" / "queries") as ledger:
        paid = torch.cat([clips for clips, _ in ledger.replay(batch_size=100)])
    assert torch.equal((paid.permute(0, 2, 1, 3, 4) * 255).round().to(torch.uint8), expected)


def test_a_ceiling_folder_smaller_than_the_budget_is_refused_before_any_query(user_victim: Path, user_videos: Path,
                                                                             tmp_path: Path) -> None:
    with pytest.raises(DataSpecError, match="holds 9 clips, fewer than the budget"):
        run_blackbox(_job(user_victim, user_videos, user_videos, 12), tmp_path / "run")
    with QueryLedger(tmp_path / "run" / "queries") as ledger:
        assert sum(clips.shape[0] for clips, _ in ledger.replay(batch_size=100)) == 0
