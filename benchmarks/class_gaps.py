"""Where a black-box student loses accuracy on the embedded benchmark: per look part, per motion pair, per class.

Reads finished run folders of ``benchmarks/blackbox.py`` (or ``vidsteal extract blackbox``) and measures each saved
student (as reported: with its prior correction) on its own job's held-out clips beside the victim:

- look parts on the appearance classes' clips: shape / texture / scene accuracy, against the truth and against
  the victim's answer (``benchmark_factors`` of v2);
- the motion pairs' clips: top-1, and how often the student names the right pair (either member; a per-frame
  model can do no better than half the top-1 there);
- per class: victim and student accuracy, how often the student predicts it, and the share of the run's paid
  clips the victim answered with it (from the query ledger; '-' once the ledger was deleted);
- ``--gap-to RUN``: the top-1 gap to another run (e.g. the ceiling) split between appearance and motion-pair clips.

``--looks-by-motion`` also renders each motion pair's look in every motion of the benchmark and prints how often
the victim names that pair: whether the victim needs the pair's motion to name it (then a student taught on clips
whose motion is independent of their look learns that look as some appearance class). It uses the benchmark's
renderer, so it is an analysis of our embedded victims, not a step any attack can take.

    python benchmarks/class_gaps.py RUNS/c3d/val_embeddings_b10000_s0_* --gap-to RUNS/c3d/val_ceiling_b10000_s0_*
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import yaml

from vidsteal.data.clips import to_model_input
from vidsteal.data.kinetics_like import MOTIONS, PAIR_LOOKS, look, render_looks
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.eval.evaluate import predict
from vidsteal.models.registry import load_model
from vidsteal.pipeline.blackbox import BlackboxJob
from vidsteal.pipeline.measure import AUDIT_QUERIES, Yardstick, yardstick
from vidsteal.victims.ledger import QueryLedger
from vidsteal.victims.spec import resolve_victim

PARTS = ("shape", "texture", "scene")


def answered_share(run: Path, num_classes: int) -> torch.Tensor | None:
    """Share of the run's paid clips the victim answered with each class (top-1), or None without a ledger."""
    with QueryLedger(run / "queries") as ledger:
        tops = [answers.labels[:, 0] for _, answers in ledger.replay(batch_size=1024)]
    if not tops:
        return None
    counts = torch.bincount(torch.cat(tops), minlength=num_classes).float()
    return counts / counts.sum()


def measure(run: Path) -> tuple[Yardstick, torch.Tensor, torch.Tensor | None]:
    """The run's yardstick, its student's predictions on it, and the victim's answer shares over the paid clips."""
    job = BlackboxJob.model_validate(yaml.safe_load((run / "config.yaml").read_text()))
    victim = resolve_victim(job.victim, card=job.card, output_mode=job.output_mode)
    try:
        yard = yardstick(victim, job.test_data, run.parent / AUDIT_QUERIES, size=job.test_size, seed=job.test_seed)
        if "scene" not in (yard.test_set.factors or {}):
            print(f"error: {run}: its test clips have no look parts (benchmark v2 only)", file=sys.stderr)
            raise SystemExit(2)
        logits, _ = predict(load_model(run / "student.safetensors"), yard.test_set)
        return yard, logits.argmax(1), answered_share(run, victim.oracle.num_classes)
    finally:
        victim.close()


def summary(name: str, pred: torch.Tensor, yard: Yardstick) -> dict[str, float]:
    """Top-1, look-part accuracies on appearance clips (vs truth / vs victim), motion-pair clips' top-1 and pair."""
    factors, labels, vpred = yard.test_set.factors, yard.test_set.labels, yard.victim_logits.argmax(1)
    app = factors["motion"][labels] == 0
    out = {"top1": (pred == labels).float().mean().item(), "appearance": (pred == labels)[app].float().mean().item()}
    for part in PARTS:
        f = factors[part]
        out[part] = (f[pred] == f[labels])[app].float().mean().item()
        out[part + "_victim"] = (f[pred] == f[vpred])[app].float().mean().item()
    pair = factors["appearance"]
    out["pairs"] = (pred == labels)[~app].float().mean().item()
    out["pair_named"] = (pair[pred] == pair[labels])[~app].float().mean().item()
    out["share_appearance"] = app.float().mean().item()
    cells = "  ".join(f"{p} {out[p]:.3f}/{out[p + '_victim']:.3f}" for p in PARTS)
    print(f"{name[:40]:<40} top-1 {out['top1']:.3f}  appearance clips {out['appearance']:.3f}  {cells}  "
          f"motion-pair clips {out['pairs']:.3f} (pair named {out['pair_named']:.3f})", flush=True)
    return out


def per_class(pred: torch.Tensor, yard: Yardstick, share: torch.Tensor | None) -> None:
    labels, vpred, names = yard.test_set.labels, yard.victim_logits.argmax(1), yard.test_set.classes
    print(f"  {'class':<30} {'victim':>6} {'student':>7} {'predicted':>9} {'paid answers':>12}")
    for c, name in enumerate(names):
        mine = labels == c
        paid = "-" if share is None else f"{share[c]:.4f}"
        print(f"  {name:<30} {(vpred[mine] == c).float().mean():>6.2f} {(pred[mine] == c).float().mean():>7.2f} "
              f"{int((pred == c).sum()):>4d} / {int(mine.sum()):<3d} {paid:>12}")


def looks_by_motion(victim_spec: str, clips: int = 60) -> None:
    """How often the victim names each motion pair when the pair's look moves in each of the benchmark's motions."""
    victim = resolve_victim(victim_spec)
    bench = BenchmarkConfig.model_validate(victim.card.dataset)  # the benchmark the victim was trained on
    names = bench.classes()
    print(f"share of {clips} clips the victim files under the pair, by the motion the pair's look is rendered in:")
    print(f"  {'pair':<8} " + " ".join(f"{m:>8}" for m in MOTIONS))
    for pair, index in PAIR_LOOKS.items():
        members = torch.tensor([c for c, n in enumerate(names) if n.startswith("_".join(look(index)) + "_")])
        cells = []
        for m in range(len(MOTIONS)):  # the same seed: the same objects and scenes in every motion
            batch = render_looks(torch.full((clips,), index), torch.full((clips,), m), bench,
                                 torch.Generator().manual_seed(0))
            top = victim.oracle.query(to_model_input(batch)).labels[:, 0]
            cells.append(f"{torch.isin(top, members).float().mean():>8.2f}")
        print(f"  {pair:<8} " + " ".join(cells), flush=True)
    victim.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="finished black-box run folders of the embedded benchmark")
    p.add_argument("--gap-to", type=Path, default=None, help="a run to split each run's top-1 gap against")
    p.add_argument("--per-class", action="store_true", help="also print the per-class table of every run")
    p.add_argument("--looks-by-motion", action="store_true", help="the victim's answers on each pair's look in "
                   "every motion (the first run's victim)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print("cells: accuracy against the truth / against the victim's answer")
    reference = None
    if args.gap_to is not None:
        yard, pred, _ = measure(args.gap_to)
        reference = summary(f"[gap to] {args.gap_to.name}", pred, yard)
    for i, run in enumerate(args.runs):
        yard, pred, share = measure(run)
        if i == 0:
            summary("victim", yard.victim_logits.argmax(1), yard)
        row = summary(run.name, pred, yard)
        if reference is not None:
            w = row["share_appearance"]
            print(f"  gap {reference['top1'] - row['top1']:+.3f} = appearance clips "
                  f"{w * (reference['appearance'] - row['appearance']):+.3f} + motion-pair clips "
                  f"{(1 - w) * (reference['pairs'] - row['pairs']):+.3f}")
        if args.per_class:
            per_class(pred, yard, share)
    if args.looks_by_motion:
        job = BlackboxJob.model_validate(yaml.safe_load((args.runs[0] / "config.yaml").read_text()))
        looks_by_motion(job.victim)


if __name__ == "__main__":
    main()
