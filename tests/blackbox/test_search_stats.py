"""The embedding search's threshold statistics (classes reached, search queries), and the search and the attack under
every output mode: with label-only answers the threshold is measured on the victim's answered-label frequency."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vidsteal.attacks.base import AttackContext
from vidsteal.attacks.registry import create_attack
from vidsteal.models import create_model
from vidsteal.pipeline.blackbox import run_blackbox
from vidsteal.victims import LocalOracle, LoggedOracle, OutputMode, QueryBudget, QueryLedger

K = 6


class Brightness(nn.Module):
    """A victim whose class is the clip's mean brightness bin (darker clips lower classes). The tiny prior's clips
    sit near mid-grey, so the middle bins are easy to fill with confidence and the outer ones are not."""

    def __init__(self, sharpness: float = 200.0) -> None:
        super().__init__()
        self.sharpness = nn.Parameter(torch.tensor(sharpness))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        centres = torch.linspace(0.45, 0.55, K)
        mean = clips.mean(dim=(1, 2, 3, 4)).view(-1, 1)
        return -self.sharpness * (mean - centres).abs()


class Sure(nn.Module):
    """A victim that answers class 0 for every clip, with probability ~0.97."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([5.0] + [0.0] * (K - 1)))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(clips.shape[0], K) + 0 * clips.mean()


def _search(victim: nn.Module, mode: OutputMode, tmp_path, budget: int = 400, **search):
    attack = create_attack("embeddings", {
        "budget": budget, "frames": 4, "size": 16, "seed": 0, "prior": {"generator": "test_dcgan"},
        "search": {"max_iters": 6, "fraction": 0.5, "population": 4, **search}, "pool": {"batch": 64},
        "distill": {"final_epochs": 0.2, "eval_every": 10_000, "replay_ratio": 0.5}})
    student = create_model("test_frame_cnn", K)
    with LoggedOracle(LocalOracle(victim, mode, num_classes=K), tmp_path / "q", QueryBudget(budget)) as oracle:
        result = attack.run(oracle, student, AttackContext(tmp_path))
        paid = oracle.paid
    return result.metrics, paid


def test_threshold_statistics_account_for_every_search_query(tmp_path):
    metrics, paid = _search(Brightness(), OutputMode(), tmp_path, threshold=0.6)
    s = metrics["search"]
    reached_at = torch.tensor(s["reached_at"])
    assert paid == metrics["queries"] == 400
    assert 0 < s["search_queries"] <= 0.5 * 400 and s["iterations"] >= 1
    assert s["classes_reached"] == int((reached_at >= 0).sum()) == K - len(s["never_reached"])
    assert reached_at.max() <= s["search_queries"]  # a class is reached while the search is paying
    for c in range(K):  # reached exactly when its best mean confidence passed the threshold
        assert (reached_at[c] >= 0) == (s["best_confidence"][c] >= s["threshold"])
    assert 1 <= s["classes_reached"] < K  # the middle bins are easy, the outer ones are not
    assert s["queries_to_all"] is None
    # every iteration pays population x active classes; a class stops costing once reached
    first = min(q for q in s["reached_at"] if q >= 0)
    assert first % 4 == 0 and s["search_queries"] > first


def test_every_class_reached_reports_when(tmp_path):
    metrics, _ = _search(Sure(), OutputMode(), tmp_path, threshold=0.5)
    s = metrics["search"]
    # class 0 is reached in the first iteration (all K classes active, population 4 each); others never
    assert s["reached_at"][0] == K * 4 and s["classes_reached"] == 1
    assert s["never_reached"] == [str(c) for c in range(1, K)]


@pytest.mark.parametrize("kind", ["probs", "topk_probs", "topk_labels", "label"])
def test_label_only_answers_can_reach_the_threshold(kind, tmp_path):
    """Class 0 is what the victim answers every time: reached in every mode (top-k labels' rank weights alone
    would cap its confidence at 0.52, below the 0.9 threshold)."""
    metrics, paid = _search(Sure(), OutputMode(kind=kind, k=2), tmp_path, budget=200)
    s = metrics["search"]
    assert paid == 200
    assert s["reached_at"][0] == K * 4 and s["best_confidence"][0] >= 0.9
    assert s["classes_reached"] == 1


@pytest.mark.parametrize("kind", ["topk_probs", "label"])
def test_the_attack_runs_through_restricted_output_modes(kind, make_job, tmp_path):
    job = make_job("embeddings", 96).model_copy(update={"output_mode": OutputMode(kind=kind, k=2)})
    out = run_blackbox(job, tmp_path / kind)
    m = out["metrics"]
    assert out["queries"] == m["ledger"]["paid"] == 96
    assert 0 <= m["top1"] <= 1 and m["search"]["search_queries"] > 0
    with QueryLedger(tmp_path / kind / "queries") as ledger:
        for _, answers in ledger.replay(batch_size=96):
            assert answers.mode.kind.value == kind
            assert (answers.probs is None) == (kind == "label")
            if kind == "topk_probs":  # at most k non-zero scores per answer
                assert int((answers.probs > 0).sum(1).max()) <= 2


@pytest.mark.parametrize("max_iters", [None, 2])
def test_the_search_grows_with_the_budget_unless_capped(max_iters, tmp_path):
    """Uncapped, a search that cannot reach every class keeps paying until its budget share is spent;
    a cap of n iterations stops it after n x population x active classes."""
    metrics, paid = _search(Sure(), OutputMode(), tmp_path, budget=600, threshold=0.5, max_iters=max_iters)
    s = metrics["search"]
    assert paid == 600
    if max_iters is None:
        assert 0.5 * 600 - K * 4 < s["search_queries"] <= 0.5 * 600 and s["iterations"] > 6
    else:  # iteration 1 pays every class, iteration 2 the K - 1 still open
        assert s["iterations"] == 2 and s["search_queries"] == K * 4 + (K - 1) * 4


class Hashed(nn.Module):
    """A victim whose answer is a pseudo-random function of the clip: every class is answered about equally often."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(50.0))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        x = clips.flatten(1).sum(1, keepdim=True) * 1000
        return self.scale * torch.sin(x + torch.arange(K) * (2 * torch.pi / K))


def test_the_probe_searches_only_the_classes_the_prior_misses(tmp_path):
    """Sure answers class 0 for everything: the probe's 100 prior clips cover class 0 alone, so the search starts
    on the other K - 1 (population 4 each) and never pays for class 0."""
    metrics, paid = _search(Sure(), OutputMode(), tmp_path, threshold=0.5, probe=0.25)
    s = metrics["search"]
    assert paid == 400 and s["covered_by_prior"] == ["0"]
    assert s["reached_at"][0] == -1 and s["best_confidence"][0] == 0  # never searched
    assert s["iterations"] == 6 and s["search_queries"] == 6 * (K - 1) * 4  # the probe is not search
    assert s["never_reached"] == [str(c) for c in range(1, K)]


def test_a_prior_that_covers_every_class_skips_the_search(tmp_path):
    metrics, paid = _search(Hashed(), OutputMode(), tmp_path, probe=0.25, covered=0.1)
    s = metrics["search"]
    assert paid == 400 and s["covered_by_prior"] == [str(c) for c in range(K)]
    assert s["iterations"] == s["search_queries"] == 0 and s["never_reached"] == []


def test_without_the_probe_every_class_is_searched(tmp_path):
    metrics, _ = _search(Hashed(), OutputMode(), tmp_path, covered=0.1)
    assert metrics["search"]["covered_by_prior"] == [] and metrics["search"]["search_queries"] > 0


def test_cover_marks_classes_at_a_share_of_the_uniform_answer_rate():
    from vidsteal.attacks.blackbox.class_embedding import SearchState

    state = SearchState(4, 3)
    state.cover(torch.tensor([50.0, 30.0, 12.0, 8.0]), 0.5)  # uniform share 25: covered from 12.5 answers on
    assert state.covered.tolist() == [True, True, False, False]
