"""Re-score finished black-box run folders with the label-shift correction at several tau.

``distill.prior_correction`` (:mod:`vidsteal.distill.label_shift`) shifts a finished student's logits by
``-tau log(K pi)``, pi the victim's mean answer over the paid clips. The shift is exactly additive on the logits,
so one forward pass of a saved, *uncorrected* student gives its accuracy at every tau, with no query and no
training: this is how tau is chosen (on ``--split val`` run folders of ``benchmarks/blackbox.py``), and the
ablation of the correction on any finished run (tau 0 = the student as trained). Each folder is measured on its
own job's split (its ``config.yaml``: victim, test data, size, seed; the victim's answers come from the audit
ledger beside it when it has one). A student saved corrected (its ``metrics.json`` names the tau) has that shift
taken off first, so every folder is re-scored from the student as trained.

    python benchmarks/prior_correction.py RUNS/c3d/val_embeddings_b10000_s* --taus 0 0.5 0.75 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
import yaml

from vidsteal.distill.label_shift import prior_shift, transfer_prior
from vidsteal.distill.losses import soft_targets
from vidsteal.distill.student import measure_logits
from vidsteal.eval.evaluate import predict
from vidsteal.models.registry import load_model
from vidsteal.pipeline.blackbox import BlackboxJob
from vidsteal.pipeline.measure import AUDIT_QUERIES, yardstick
from vidsteal.victims.ledger import QueryLedger
from vidsteal.victims.spec import resolve_victim


def paid_targets(run: Path, num_classes: int) -> torch.Tensor | None:
    """The soft targets the student trained on: every logged answer of the run, as the session read it (None when
    the ledger holds none, e.g. its files were deleted to save disk)."""
    with QueryLedger(run / "queries") as ledger:
        parts = [soft_targets(answers, num_classes) for _, answers in ledger.replay(batch_size=1024)]
    return torch.cat(parts) if parts else None


def rescore(run: Path, taus: list[float]) -> list[dict[str, float]] | None:
    """What :func:`~vidsteal.distill.student.measure` reports for ``run``'s student at each tau (None: no answers
    logged, so the prior cannot be rebuilt)."""
    job = BlackboxJob.model_validate(yaml.safe_load((run / "config.yaml").read_text()))
    applied = (json.loads((run / "metrics.json").read_text())["metrics"].get("prior_correction") or {}).get("tau", 0.0)
    victim = resolve_victim(job.victim, card=job.card, output_mode=job.output_mode)
    paid = paid_targets(run, victim.oracle.num_classes)  # first: an emptied ledger needs no student or yardstick
    if paid is None:
        return None
    prior = transfer_prior(paid)
    yard = yardstick(victim, job.test_data, run.parent / AUDIT_QUERIES, size=job.test_size, seed=job.test_seed)
    logits, labels = predict(load_model(run / "student.safetensors"), yard.test_set)
    logits = logits.float() - prior_shift(prior, applied)  # the student as trained
    return [{"tau": tau, **measure_logits(logits + prior_shift(prior, tau), labels, yard.test_set, yard.victim_logits)}
            for tau in taus]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="finished run folders (student.safetensors, queries/)")
    p.add_argument("--taus", nargs="+", type=float, default=[0.0, 0.25, 0.5, 0.75, 1.0])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    table: dict[float, list[float]] = {tau: [] for tau in args.taus}
    for run in args.runs:
        if not (run / "metrics.json").exists():
            print(f"{run}: not finished, skipped", file=sys.stderr)
            continue
        rows = rescore(run, args.taus)
        if rows is None:
            print(f"{run}: its query ledger holds no answers, skipped", file=sys.stderr)
            continue
        cells = "  ".join(f"{r['tau']:g}: {r['top1']:.3f} ({r['agreement']:.3f})" for r in rows)
        print(f"{run.name:48s} {cells}", flush=True)
        for r in rows:
            table[r["tau"]].append(r["top1"])
    if any(table.values()):
        print("mean top-1 over runs: " + "  ".join(
            f"tau {tau:g}: {statistics.mean(v):.3f}" for tau, v in table.items() if v))


if __name__ == "__main__":
    main()
