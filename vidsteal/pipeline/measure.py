"""The auditor's yardstick: the test clips and the victim's own predictions on them, beside every student.

An in-process victim is measured directly (the auditor owns it; nothing is paid). A remote victim can only be
measured by asking it: those are real queries, paid as *audit queries* in a ledger of their own
(``<audit_dir>/<victim key>/``), never charged to an attack's budget, and answered from that ledger for free when a
later run measures the same victim on the same clips (the ledger keys answers by clip content).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from vidsteal.data.clips import to_model_input
from vidsteal.data.embedded import ClipDataset
from vidsteal.data.sources import resolve_test_data
from vidsteal.eval.evaluate import predict
from vidsteal.eval.metrics import topk_accuracy
from vidsteal.victims.logged import LoggedOracle
from vidsteal.victims.outputs import Answers
from vidsteal.victims.spec import Victim

AUDIT_QUERIES = "audit_queries"


@dataclass
class Yardstick:
    """Test clips, the victim's predictions on them (as logits: only their ranking is used) and what it cost.

    Attributes:
        audit_paid: audit queries paid by this measurement (0 for an in-process victim or a reused ledger).
        audit_total: audit queries in that victim's audit ledger so far (0 for an in-process victim).
        audit_ledger: the audit ledger's folder (None for an in-process victim).
    """

    test_set: ClipDataset
    victim_logits: torch.Tensor
    audit_paid: int = 0
    audit_total: int = 0
    audit_ledger: str | None = None

    @property
    def victim_top1(self) -> float:
        return topk_accuracy(self.victim_logits, self.test_set.labels, 1)

    def summary(self) -> dict[str, object]:
        return {"victim_top1": self.victim_top1, "test_clips": len(self.test_set), "audit_paid": self.audit_paid,
                "audit_queries": self.audit_total, "audit_ledger": self.audit_ledger}


def audit_key(victim: Victim) -> str:
    """Folder name of a victim's audit ledger: its spec and output mode (answers differ between modes)."""
    data = json.dumps({"spec": victim.spec, "mode": victim.oracle.output_mode.to_dict()}, sort_keys=True)
    return f"{victim.kind}_{hashlib.sha256(data.encode()).hexdigest()[:10]}"


def answers_to_logits(answers: Answers, num_classes: int) -> torch.Tensor:
    """Scores whose ranking is the victim's: log-probabilities when revealed, else the revealed labels in order."""
    if answers.probs is not None:
        return answers.probs.clamp_min(1e-12).log()
    k = answers.labels.shape[1]
    ranks = torch.arange(k, 0, -1, dtype=torch.float32).expand(len(answers), k)
    return torch.full((len(answers), num_classes), -1.0).scatter(1, answers.labels, ranks)


def measure_victim(victim: Victim, test_set: ClipDataset, audit_dir: str | Path, batch: int = 64) -> Yardstick:
    """The victim's predictions on ``test_set``: computed in-process, or paid once as audit queries."""
    if not victim.remote:
        logits, _ = predict(victim.model, test_set)  # type: ignore[arg-type]
        return Yardstick(test_set, logits)
    root = Path(audit_dir) / audit_key(victim)
    with LoggedOracle(victim.oracle, root) as audit:
        before = audit.paid
        parts = [audit.query(to_model_input(test_set.clips[i : i + batch])) for i in range(0, len(test_set), batch)]
        paid, total = audit.paid - before, audit.paid
    logits = answers_to_logits(Answers.cat(parts), victim.oracle.num_classes)
    return Yardstick(test_set, logits, paid, total, str(root))


def yardstick(victim: Victim, test_data: str, audit_dir: str | Path, *, size: int | None = None,
              seed: int = 0) -> Yardstick:
    """Resolve ``test_data`` for this victim (see :mod:`vidsteal.data.sources`) and measure the victim on it."""
    return measure_victim(victim, resolve_test_data(test_data, victim.card, size=size, seed=seed), audit_dir)
