"""Budgets are exact and never overspent; a batch that does not fit is answered up to the limit, then raises."""

from __future__ import annotations

import random

import pytest
import torch

from vidsteal.victims import BudgetedOracle, BudgetExceeded, LoggedOracle, OracleError, QueryBudget


def test_budget_counts_exactly():
    budget = QueryBudget(10)
    assert budget.fits(4) == 4 and budget.fits(11) == 10
    budget.spend(7)
    assert budget.remaining == 3 and budget.fits(5) == 3 and not budget.exhausted
    with pytest.raises(ValueError, match="exceed"):
        budget.spend(4)
    budget.spend(3)
    assert budget.exhausted and budget.fits(1) == 0
    with pytest.raises(ValueError):
        QueryBudget(-1)


def test_restore_never_passes_limit():
    budget = QueryBudget(10)
    budget.restore(4)
    assert budget.spent == 4
    budget.restore(25)  # a resumed log bigger than the budget: exhausted, not broken
    assert budget.spent == 10 and budget.exhausted


def test_budget_exceeded_is_an_oracle_error():
    assert issubclass(BudgetExceeded, OracleError)


def test_budgeted_oracle_answers_prefix_then_raises(victim, make_clips):
    oracle = BudgetedOracle(victim, QueryBudget(10))
    clips = make_clips(4, 0)
    oracle.query(clips)
    oracle.query(clips)
    with pytest.raises(BudgetExceeded) as info:
        oracle.query(clips)
    err = info.value
    assert (err.answered, err.requested, err.spent, err.limit) == (2, 4, 10, 10)
    assert torch.equal(err.answers.probs, victim.query(clips[:2]).probs)
    assert victim.queries == 10 + 2  # the line above paid 2 more, directly
    with pytest.raises(BudgetExceeded) as info:
        oracle.query(clips[:1])
    assert info.value.answered == 0 and info.value.answers is None


@pytest.mark.parametrize("seed", range(3))
def test_random_batches_never_overspend(victim, make_clips, tmp_path, seed):
    rng = random.Random(seed)
    limit = rng.randint(5, 40)
    oracle = LoggedOracle(victim, tmp_path / "ledger", budget=QueryBudget(limit))
    answered = 0
    for step in range(12):
        batch = make_clips(rng.randint(1, 9), 100 * seed + step)
        try:
            answered += len(oracle.query(batch))
        except BudgetExceeded as err:
            answered += err.answered
        assert victim.queries <= limit and oracle.paid == victim.queries
    assert oracle.paid == oracle.budget.spent == min(limit, answered)


def test_logged_partial_batch_is_saved_and_survives_resume(make_victim, make_clips, tmp_path):
    victim = make_victim()
    clips = make_clips(4, 0)
    with LoggedOracle(victim, tmp_path, budget=QueryBudget(10)) as oracle:
        oracle.query(clips)
        oracle.query(make_clips(4, 1))
        with pytest.raises(BudgetExceeded) as info:
            oracle.query(make_clips(4, 2))
        assert info.value.answered == 2 and oracle.paid == 10 == victim.queries
    fresh = make_victim()
    with LoggedOracle(fresh, tmp_path, budget=QueryBudget(10)) as oracle:
        assert oracle.budget.spent == 10 and oracle.paid == 10
        again = oracle.query(make_clips(4, 2)[:2])  # the saved half of the cut batch is free
        assert torch.equal(again.probs, info.value.answers.probs) and fresh.queries == 0
        with pytest.raises(BudgetExceeded) as info:
            oracle.query(make_clips(1, 3))
        assert info.value.answered == 0 and fresh.queries == 0


def test_prefix_includes_free_hits_before_the_cut(victim, make_clips, tmp_path):
    seen, new = make_clips(2, 0), make_clips(3, 1)
    oracle = LoggedOracle(victim, tmp_path, budget=QueryBudget(3))
    oracle.query(seen)
    # batch: seen0, new0, seen1, new1, new2 -> one paid query left: answers seen0, new0, seen1, stops at new1
    batch = torch.stack([seen[0], new[0], seen[1], new[1], new[2]])
    with pytest.raises(BudgetExceeded) as info:
        oracle.query(batch)
    assert info.value.answered == 3 and len(info.value.answers) == 3
    assert oracle.paid == 3 and oracle.hits == 2 and victim.queries == 3
