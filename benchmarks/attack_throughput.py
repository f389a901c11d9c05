"""Paid queries/s of every black-box method beside the victim's raw forward clips/s, on the same clips and threads.

The attacker's own compute (rendering clips, logging answers, training the student) must stay near the victim's
speed, or budgets where attacks work (10^5 queries and up) do not fit. Each method runs exactly as ``vidsteal
extract blackbox`` runs it (the demo's student and distillation settings, through a durable query log in a
temporary folder, 8-bit clips for every method), minus the held-out measurements, which are the auditor's and not the attacker's cost. The
victim is then timed on the clips that method paid for (its forward pass alone, in the batches ``LocalOracle``
uses), in the same process right after, so machine load largely cancels in the ratio.

    python benchmarks/attack_throughput.py                     # demo victim c3d_small, 2 threads, 2048 queries
    python benchmarks/attack_throughput.py --threads 1 --methods embeddings --profile

The clip shape comes from the victim's card (its benchmark), the student and distillation settings from the
demo's defaults (``StudyConfig``). ``--profile`` runs the embedding method under cProfile and prints where its time
went (prior, motion, victim, query log, student), which slows Python-heavy parts a little. Not run in CI. The last
line is ``attack/victim throughput ratio: X`` for the embedding method (wall time). On a shared machine prefer
``--threads 1`` (two threads waiting on each other at every op suffer most from other processes' load) and compare
ratios within one run; the ``cpu ratio`` column gives the same ratio in CPU seconds of this process.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import vidsteal.attacks.blackbox  # noqa: F401  (registers the black-box attacks)
from vidsteal.attacks.base import AttackContext
from vidsteal.attacks.registry import ATTACKS, create_attack
from vidsteal.config import apply_overrides
from vidsteal.models import create_model, load_model, read_card
from vidsteal.pipeline.study import StudyConfig, demo_victim
from vidsteal.pipeline.victims import embedded_victim
from vidsteal.victims import LocalOracle, LoggedOracle, QueryBudget, QueryLedger

METHODS = ("embeddings", "dfme", "noise", "reference")
# Parts of the embedding attack's time, as (label, file suffix, function name) for cProfile's cumulative times.
PARTS = (("prior (generator)", "generators/base.py", "forward"),
         ("motion (keyframes -> clips)", "blackbox/trajectories.py", "make_clips"),
         ("victim forward", "victims/local.py", "_answer"),
         ("query log + victim", "victims/logged.py", "_answer"),
         ("student steps while querying", "blackbox/online.py", "train"),
         ("final student training", "blackbox/online.py", "finish"))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--victim", type=Path, default=None, help="victim .safetensors (default: the demo's, trained once "
                                                              "and cached under --runs)")
    p.add_argument("--arch", default="c3d_small", help="the demo victim to use when --victim is not given")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="where embedded victims are cached")
    p.add_argument("--budget", type=int, default=2048, help="queries paid per method")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--threads", type=int, default=2, help="torch threads for attack and victim alike")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", action="store_true", help="break the embedding method's time down (cProfile)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override (e.g. prior.clips_per_image=4) for every method whose config has KEY's section")
    return p.parse_args()


def demo_settings(arch: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Student, its kwargs and the attack overrides ``vidsteal demo`` uses against ``arch`` (a demo pair's)."""
    study = StudyConfig()
    pair = next((p for p in study.pairs if p.victim == arch), study.pairs[0])
    return pair.student, dict(pair.student_kwargs), copy.deepcopy(study.blackbox_attack)


class _Clock:
    """Progress reporter that notes when the final training starts (the end of the querying loop)."""

    def __init__(self) -> None:
        self.final_at: float | None = None

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if stage == "final training" and done == 0:
            self.final_at = time.perf_counter()


def run_method(method: str, victim: Path, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Run one method to its budget; returns wall time, loop time and the folder of its query log."""
    card = read_card(victim)
    student_name, student_kwargs, overrides = demo_settings(card.arch)
    cfg: dict[str, Any] = {**overrides, "budget": args.budget, "seed": args.seed, "frames": card.frames,
                           "size": card.size}
    fields = ATTACKS.get(method).config_class.model_fields
    if "benchmark" in fields:
        cfg["benchmark"] = card.dataset
    cfg = apply_overrides(cfg, [o for o in args.overrides if o.split("=", 1)[0].split(".")[0] in fields])
    attack = create_attack(method, cfg)
    with torch.random.fork_rng():
        torch.manual_seed(args.seed)
        student = create_model(student_name, card.num_classes, **student_kwargs)
    folder = workdir / method
    clock = _Clock()
    profiler = cProfile.Profile() if args.profile and method == "embeddings" else None
    with LoggedOracle(LocalOracle.from_file(victim), folder / "queries", QueryBudget(args.budget)) as oracle:
        start, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        result = attack.run(oracle, student, AttackContext(folder, None, None, clock))
        if profiler is not None:
            profiler.disable()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    loop = (clock.final_at or start + wall) - start
    return {"paid": result.queries, "wall": wall, "cpu": cpu, "loop": loop, "queries": folder / "queries",
            "student": student_name, "distill": attack.config.distill.to_dict(), "profile": profiler}


def victim_forward(victim: Path, queries: Path, batch: int = 64, passes: int = 3) -> tuple[float, float]:
    """The victim's raw forward clips/s on the clips in a query log (batches as LocalOracle sends them), per second
    of wall time and per second of this process's CPU time; the median of ``passes`` passes (a short load spike on
    a shared machine moves one pass, not the median)."""
    model = load_model(victim).eval()
    with QueryLedger(queries) as ledger:
        clips = torch.cat([c for c, _ in ledger.replay(batch_size=512)])
    with torch.inference_mode():
        model(clips[:batch])  # warm-up: allocator, kernels
        rates = []
        for _ in range(passes):
            start, cpu = time.perf_counter(), time.process_time()
            for chunk in clips.split(batch):
                model(chunk)
            rates.append((clips.shape[0] / (time.perf_counter() - start), clips.shape[0] / (time.process_time() - cpu)))
        return statistics.median(r[0] for r in rates), statistics.median(r[1] for r in rates)


def print_profile(profiler: cProfile.Profile, wall: float) -> None:
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    print(f"\nwhere the embedding attack's {wall:.1f} s went (cProfile cumulative, nested parts overlap):")
    for label, suffix, name in PARTS:
        seconds = sum(v[3] for (file, _, func), v in stats.items() if file.endswith(suffix) and func == name)
        print(f"  {label:<30} {seconds:7.2f} s  {100 * seconds / wall:5.1f}%")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    victim = args.victim or embedded_victim(args.arch, args.runs, demo_victim(args.arch))
    card = read_card(victim)
    print(f"victim {card.arch} ({victim}); clips {card.frames}x{card.size}x{card.size}; {args.budget} queries per "
          f"method; {torch.get_num_threads()} torch threads; load average {os.getloadavg()[0]:.2f} at start",
          flush=True)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="vidsteal-throughput-") as tmp:
        for method in args.methods:
            out = run_method(method, victim, args, Path(tmp))
            out["victim"], out["victim_cpu"] = victim_forward(victim, out["queries"])
            rows[method] = out
            print(f"  {method}: {out['paid']} queries in {out['wall']:.1f} s", flush=True)
    first = next(iter(rows.values()))
    print(f"student {first['student']}; distill {first['distill']}; overrides {args.overrides or 'none'}")
    print(f"{'method':<12} {'paid':>6} {'wall s':>7} {'queries/s':>10} {'loop q/s':>9} {'victim clips/s':>15} "
          f"{'ratio':>6} {'cpu ratio':>9}")
    for method, r in rows.items():
        print(f"{method:<12} {r['paid']:>6} {r['wall']:>7.1f} {r['paid'] / r['wall']:>10.1f} "
              f"{r['paid'] / r['loop']:>9.1f} {r['victim']:>15.1f} {r['paid'] / r['wall'] / r['victim']:>6.3f} "
              f"{r['paid'] / r['cpu'] / r['victim_cpu']:>9.3f}")
    print("queries/s: paid / wall time of the whole attack (rendering, victim, query log, student steps, final "
          "training); loop q/s: until the last query (without the final training); victim clips/s: its forward pass "
          f"alone on the clips that method paid for (median of 3 passes); cpu ratio: the same ratio in CPU seconds of "
          f"this process (at --threads 1 it leaves out the time spent waiting for a core on a loaded machine, not "
          f"the slowdown from shared caches). Load average "
          f"{os.getloadavg()[0]:.2f} at the end.")
    if "embeddings" in rows:
        emb = rows["embeddings"]
        if emb["profile"] is not None:
            print_profile(emb["profile"], emb["wall"])
        print(f"attack/victim throughput ratio: {emb['paid'] / emb['wall'] / emb['victim']:.3f}")


if __name__ == "__main__":
    main()
