"""Exact query budgets, checked before a query is paid for.

Policy when a batch does not fit: answer the longest prefix of the batch that fits, keep those answers (the
victim has been paid for them, and a :class:`~vidsteal.victims.logged.LoggedOracle` has already saved them),
then raise :class:`BudgetExceeded` carrying how many clips were answered and their answers. We chose this over
refusing the whole batch because refusing leaves the last ``remaining`` queries of a budget unusable by any
attack with a fixed batch size, so reported budgets would overstate what was spent; the prefix rule spends
the budget exactly and the caller still learns, by the exception, that its batch was cut short.
"""

from __future__ import annotations

import torch

from vidsteal.victims.base import Oracle, OracleError
from vidsteal.victims.outputs import Answers


class BudgetExceeded(OracleError):
    """A batch needed more queries than the budget had left.

    Attributes:
        limit: the budget's limit.
        spent: queries paid in total after answering the prefix.
        requested: clips in the batch that was cut short.
        answered: length of the batch prefix that was answered (``clips[:answered]``).
        answers: the answers for that prefix, or None when nothing was answered.
    """

    def __init__(self, limit: int, spent: int, requested: int, answered: int, answers: Answers | None) -> None:
        self.limit, self.spent, self.requested, self.answered, self.answers = limit, spent, requested, answered, answers
        super().__init__(
            f"query budget of {limit} exhausted: answered the first {answered} of {requested} clips in this batch "
            f"({spent} queries paid in total); the answered clips are kept in e.answers"
        )


class QueryBudget:
    """Counts paid queries exactly and says how many more fit; never lets ``spent`` pass ``limit``.

    The budget does not answer anything itself: the oracle that pays asks :meth:`fits` before paying and calls
    :meth:`spend` after, so counting happens at the victim boundary and not by formula.
    """

    def __init__(self, limit: int, spent: int = 0) -> None:
        if limit < 0 or spent < 0:
            raise ValueError(f"budget limit and spent must be >= 0, got limit={limit}, spent={spent}")
        if spent > limit:
            raise ValueError(f"budget already overspent: spent={spent} > limit={limit}")
        self.limit = int(limit)
        self.spent = int(spent)

    @property
    def remaining(self) -> int:
        return self.limit - self.spent

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0

    def fits(self, n: int) -> int:
        """How many of ``n`` further queries the budget still allows."""
        return max(0, min(int(n), self.remaining))

    def spend(self, n: int) -> None:
        """Record ``n`` paid queries; paying past the limit is a bug in the caller, so it raises."""
        if n < 0:
            raise ValueError(f"cannot spend a negative number of queries ({n})")
        if n > self.remaining:
            raise ValueError(f"spending {n} queries would exceed the budget ({self.spent}/{self.limit} spent)")
        self.spent += int(n)

    def restore(self, paid: int) -> None:
        """Account for queries paid before this process started (a resumed ledger); ``paid`` is a total.

        A resumed run whose log already holds more than ``limit`` paid queries leaves the budget exhausted
        instead of failing, so the log can still be read and replayed for free.
        """
        self.spent = max(self.spent, min(int(paid), self.limit))

    def __repr__(self) -> str:
        return f"QueryBudget(limit={self.limit}, spent={self.spent})"


class BudgetedOracle(Oracle):
    """Wraps any oracle with a budget, without a log; use ``LoggedOracle(..., budget=...)`` to also persist."""

    def __init__(self, backend: Oracle, budget: QueryBudget) -> None:
        super().__init__(backend.num_classes, backend.output_mode)
        self.backend = backend
        self.budget = budget

    def _answer(self, clips: torch.Tensor) -> Answers:
        n = self.budget.fits(clips.shape[0])
        answers = self.backend.query(clips[:n]) if n else None
        self.budget.spend(n)
        if n < clips.shape[0]:
            self.queries += n
            raise BudgetExceeded(self.budget.limit, self.budget.spent, clips.shape[0], n, answers)
        assert answers is not None
        return answers

    def info(self) -> dict:
        return {**super().info(), "budget": {"limit": self.budget.limit, "spent": self.budget.spent},
                "backend_info": self.backend.info()}
