"""Grey-box extraction on the embedded benchmark: aux-set KD, dense 5% fine-tune, winning ticket, controls, ceiling.

For each victim/student pair (the demo's mirrored per-frame pairs, small 3D CNN -> per-frame CNN and small Video
Swin -> per-frame ViT-Tiny, and the 3D pair c3d_small -> c3d_student), each budget and each seed, runs
``vidsteal.pipeline.greybox.run_greybox`` with every stage and prints mean +- std over seeds of held-out top-1 and
agreement with the victim for:

    labeled only    the student trained from random weights on the labeled 5% (no victim queries): the floor
    aux-set KD      distilled on the victim's answers to irrelevant clips (budget = aux clips queried)
    dense FT        the KD student fine-tuned on the labeled 5%
    ticket          the IMP level with the best top-1 on the *validation* split, rewound and retrained
    dense best-of   dense FT repeated under other data-order seeds, the best on validation of as
                    many networks as the ticket was picked from: the ticket's selection, given to dense training
    ticket*         the best IMP level *chosen on the test split*: optimistic, shown only to bound selection
    reinit          the reported ticket's mask from fresh random weights (Frankle & Carbin's control)
    random mask     a random mask of the same per-layer sparsity on the KD weights
    ceiling         the same KD stage, same student and budget, on fresh clips of the victim's own distribution

and the victim's own top-1. The reference study's ordering KD < dense FT < ticket is counted per seed as a
hypothesis, not assumed. Runs resume: re-running the command reads finished stages back.

    python benchmarks/greybox.py --victims A.safetensors,B.safetensors,A.safetensors   # the trained v2 victims
    python benchmarks/greybox.py --quick         # a smoke run of the same path (minutes)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from vidsteal.attacks.greybox import FinetuneConfig, GreyboxConfig, GreyboxData, GreyboxDatasets, LotteryConfig
from vidsteal.data.embedded import AUX_FAMILIES, make_auxiliary, make_split
from vidsteal.data.subsets import labeled_subset
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.distill.student import DistillConfig
from vidsteal.models import read_card
from vidsteal.pipeline.greybox import GreyboxRun, run_greybox, with_victim_benchmark
from vidsteal.pipeline.study import demo_victim
from vidsteal.pipeline.victims import embedded_victim, victim_test_logits
from vidsteal.pruning import PruningConfig
from vidsteal.train.loop import OptimConfig

# The demo's students (vidsteal.pipeline.study): frame_cnn at its registry widths, frame_vit_tiny on 8 px patches
# (16 tokens per 32 px frame); --full-students uses the registry defaults (ViT patch 4: ~4.5x slower on a CPU).
STUDENT_KWARGS = {"frame_vit_tiny": {"patch_size": 8}}
# Fine-tune lr per student, chosen on val (seed 0, 4k aux KD start, 400 val clips): frame_cnn 3e-3 43.5, 1e-3 48.3,
# 3e-4 50.5; over seeds 0-2 at 8 epochs 3e-4 48.0 vs 1e-3 45.8 mean (50.5/46.3/47.3 vs 48.3/47.5/41.5): 3e-4 kept;
# c3d_student 3e-3 41.0, 1e-3 40.0, 3e-4 36.3; frame_vit_tiny (KD start 27.0) 1e-3 22.0, 3e-4 26.3, 1e-4 27.8.
FT_LR = {"frame_vit_tiny": 1e-4, "frame_cnn": 3e-4}
PER_FRAME = ("frame_cnn", "frame_vit_tiny")  # students that may train on a random frame subset (3D ones may not)
METHODS = (("scratch", "labeled only (no queries)"), ("kd", "aux-set KD"), ("finetune", "dense fine-tune"),
           ("dense_best", "dense FT, best of L seeds (val)"), ("ticket", "winning ticket (val-selected level)"),
           ("best", "ticket* (best level, test-selected)"),
           ("reinit", "ticket mask, random re-init"), ("random_mask", "random mask, KD weights"),
           ("ceiling", "ceiling: KD on victim-domain clips"))


def attack_config(args: argparse.Namespace, seed: int, budget: int, student: str) -> GreyboxConfig:
    frames = {"train_frames": args.train_frames if student in PER_FRAME else None}
    ft_lr = args.ft_lr if args.ft_lr is not None else FT_LR.get(student, 1e-3)
    ft = OptimConfig(epochs=args.ft_epochs, batch_size=32, lr=ft_lr, warmup_epochs=1, **frames)
    return GreyboxConfig(
        budget=budget, seed=seed, stages=("kd", "finetune", "lottery", "scratch"),
        data=GreyboxData(aux_size=budget, labeled_fraction=args.labeled_fraction, labeled_pool=args.labeled_pool,
                         aux_cutmix=args.aux_cutmix, aux_family=args.aux_family),
        kd=DistillConfig(temperature=args.kd_temperature,
                         optim=OptimConfig(epochs=args.kd_epochs, batch_size=64, lr=args.kd_lr, **frames)),
        finetune=FinetuneConfig(optim=ft),
        lottery=LotteryConfig(pruning=PruningConfig(fraction=args.prune_fraction), target_sparsity=args.target_sparsity,
                              rewind_epoch=args.rewind_epoch,
                              controls=("reinit", *(("random_mask",) if args.random_mask else ()),
                                        *(("dense_seeds",) if args.dense_seeds else ()))),
        scratch=OptimConfig(epochs=args.scratch_epochs, batch_size=32, lr=3e-3, warmup_epochs=1, **frames),
    )


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} +- {std:.3f}"


def per_seed_rows(result_metrics: dict, curve: list[dict]) -> dict[str, dict]:
    rows = {k: result_metrics[k] for k, _ in METHODS if k in result_metrics}
    tickets = [r for r in curve if r["kind"] in ("dense", "ticket")]
    rows["best"] = max(tickets, key=lambda r: r["top1"])
    return rows


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default="c3d_small:frame_cnn,swin3d_small:frame_vit_tiny,c3d_small:c3d_student")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budgets", default="4000,20000", help="aux clips queried (= the query budget), comma list")
    parser.add_argument("--labeled-fraction", type=float, default=0.05)
    parser.add_argument("--labeled-pool", type=int, default=demo_victim("c3d_small").train_size,
                        help="the victims' training split, from which the labeled fraction is drawn")
    parser.add_argument("--aux-family", default="auto", choices=AUX_FAMILIES,
                        help="embedded aux clips: objects of no class in the victim's world, or abstract patterns")
    parser.add_argument("--aux-cutmix", type=float, default=0.0, help="share of paid aux clips that are CutMix composites")
    parser.add_argument("--kd-epochs", type=int, default=8)
    parser.add_argument("--kd-lr", type=float, default=GreyboxConfig().kd.optim.lr)
    parser.add_argument("--kd-temperature", type=float, default=GreyboxConfig().kd.temperature)
    parser.add_argument("--ft-epochs", type=int, default=8)
    parser.add_argument("--ft-lr", type=float, default=None, help="fine-tune lr (default: per student, FT_LR, 1e-3)")
    parser.add_argument("--scratch-epochs", type=int, default=16)
    parser.add_argument("--prune-fraction", type=float, default=0.4)
    parser.add_argument("--target-sparsity", type=float, default=0.75)
    parser.add_argument("--rewind-epoch", type=int, default=0)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--val-size", type=int, default=400, help="validation clips the ticket level is chosen on")
    parser.add_argument("--train-frames", type=int, default=2, help="per-frame students: frames per clip and step")
    parser.add_argument("--random-mask", action="store_true", help="also run the random-mask control")
    parser.add_argument("--dense-seeds", action=argparse.BooleanOptionalAction, default=True,
                        help="the selection control: dense FT under L - 1 more seeds, best of L on val (cheap: L - 1 "
                             "fine-tunes on the labeled 5%%)")
    parser.add_argument("--no-ceiling", action="store_true", help="skip KD on the victim's own distribution")
    parser.add_argument("--full-students", action="store_true", help="registry-default student widths (slow on CPU)")
    parser.add_argument("--victims", default=None, help="comma-separated victim files, one per pair")
    parser.add_argument("--victim-runs", default="runs", help="where the trained embedded victims are cached")
    parser.add_argument("--runs", default="runs/bench_greybox")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one seed: checks the path end to end")
    args = parser.parse_args()
    args.train_frames = args.train_frames or None
    if args.quick:
        args.seeds, args.budgets, args.kd_epochs, args.ft_epochs, args.scratch_epochs = 1, "128", 1, 1, 1
        args.test_size, args.val_size, args.target_sparsity = 200, 100, 0.3
    return args


def run_seed(args: argparse.Namespace, victim: Path, student: str, budget: int, seed: int, held_out: dict) -> dict:
    """One seed of one pair at one budget: every grey-box stage, then (unless skipped) the ceiling."""
    student_kwargs = {} if args.full_students else STUDENT_KWARGS.get(student, {})
    cfg = with_victim_benchmark(GreyboxRun(victim=str(victim), student=student, student_kwargs=student_kwargs,
                                           test_size=args.test_size, attack=attack_config(args, seed, budget, student)))
    bench = cfg.attack.data.benchmark
    data = GreyboxDatasets(make_auxiliary(bench, budget, seed, args.aux_family),
                           labeled_subset(held_out["pool"], args.labeled_fraction, seed))
    result = run_greybox(cfg, args.runs, data=data, test_set=held_out["test"], victim_logits=held_out["logits"],
                         val_set=held_out["val"])
    rows = per_seed_rows(result.metrics, result.curve)
    if not args.no_ceiling:  # same KD stage and budget on fresh clips of the victim's distribution (not its train split)
        own = GreyboxDatasets(make_split(bench, "train", budget, 1000 + seed), data.labeled)
        kd_only = cfg.model_copy(update={"attack": cfg.attack.model_copy(update={"stages": ("kd",)})})
        ceiling = run_greybox(kd_only, Path(args.runs) / "ceiling", data=own, test_set=held_out["test"],
                              victim_logits=held_out["logits"])
        rows["ceiling"] = ceiling.metrics["kd"]
    return {"seed": seed, "queries": result.queries, "victim_top1": result.metrics["victim_top1"], "rows": rows,
            "curve": result.curve, "ticket_level": result.metrics["ticket"]["level"], "run_dir": str(cfg.run_dir(args.runs))}


def main() -> None:
    args = parse_args()
    pairs = [tuple(p.split(":")) for p in args.pairs.split(",")]
    victims = args.victims.split(",") if args.victims else [None] * len(pairs)
    if len(victims) != len(pairs):
        raise SystemExit(f"--victims names {len(victims)} files for {len(pairs)} pairs")
    started = time.perf_counter()
    summary: dict = {"args": vars(args), "pairs": []}
    for (victim_arch, student), victim_file in zip(pairs, victims):
        victim = Path(victim_file) if victim_file else embedded_victim(victim_arch, args.victim_runs, demo_victim(victim_arch))
        bench = BenchmarkConfig.model_validate(read_card(victim).dataset)  # the victim's own benchmark
        test_set = make_split(bench, "test", args.test_size, 0)
        held_out = {"test": test_set, "logits": victim_test_logits(victim, test_set),
                    "val": make_split(bench, "val", args.val_size, 0),
                    "pool": make_split(bench, "train", args.labeled_pool, 0)}  # each seed draws its labeled fraction
        for budget in (int(b) for b in args.budgets.split(",")):
            seeds = []
            for seed in range(args.seeds):
                t0 = time.perf_counter()
                seeds.append({**run_seed(args, victim, student, budget, seed, held_out),
                              "seconds": time.perf_counter() - t0})
                print(f"  {victim_arch} -> {student} budget {budget} seed {seed}: {seeds[-1]['seconds']:.0f} s",
                      flush=True)
            summary["pairs"].append({"victim": victim_arch, "victim_file": str(victim), "student": student,
                                     "budget": budget, "seeds": seeds})
            report(summary["pairs"][-1])
    summary["seconds"] = time.perf_counter() - started
    out = Path(args.runs) / f"summary_{'+'.join(f'{v}-{s}' for v, s in pairs)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(f"\ntotal {summary['seconds'] / 60:.1f} min; summary: {out}")


def report(pair: dict) -> None:
    seeds = pair["seeds"]
    print(f"\n{pair['victim']} -> {pair['student']}, budget {pair['budget']}  ({len(seeds)} seeds, mean +- std; "
          f"victim top-1 {mean_std([s['victim_top1'] for s in seeds])}, queries {seeds[0]['queries']} per seed)")
    print(f"{'method':38s} {'top-1':>16s} {'agreement':>16s} {'sparsity':>9s} {'queries':>8s}")
    for key, label in METHODS:
        rows = [s["rows"][key] for s in seeds if key in s["rows"]]
        if not rows:
            continue
        queries = 0 if key == "scratch" else pair["budget"] if key == "ceiling" else seeds[0]["queries"]
        sparsity = statistics.mean(r.get("sparsity", 0.0) for r in rows)
        print(f"{label:38s} {mean_std([r['top1'] for r in rows]):>16s} "
              f"{mean_std([r['agreement'] for r in rows]):>16s} {sparsity:9.2f} {queries:8d}")
    print(f"{'victim':38s} {mean_std([s['victim_top1'] for s in seeds]):>16s}")
    ratios = [s["rows"]["kd"]["top1"] / s["rows"]["ceiling"]["top1"] for s in seeds if "ceiling" in s["rows"]]
    print(f"aux KD / ceiling (top-1, per seed): {' '.join(f'{r:.2f}' for r in ratios) or '-'}; "
          f"reported ticket levels (val): {[s['ticket_level'] for s in seeds]}")
    levels = sorted({r["level"] for r in seeds[0]["curve"] if r["kind"] in ("dense", "ticket")})
    curve = []
    for level in levels:
        points = [r for s in seeds for r in s["curve"] if r["level"] == level and r["kind"] in ("dense", "ticket")]
        sparsity, top1 = statistics.mean(p["sparsity"] for p in points), statistics.mean(p["top1"] for p in points)
        curve.append(f"{sparsity:.2f}:{top1:.3f}")
    print("sparsity:top-1 by IMP level (mean) ", "  ".join(curve))

    def count(a: str, b: str) -> str:
        both = [s["rows"] for s in seeds if a in s["rows"] and b in s["rows"]]
        return f"{sum(r[a]['top1'] < r[b]['top1'] for r in both)}/{len(both)}" if both else "n/a"

    ordered = sum(s["rows"]["kd"]["top1"] < s["rows"]["finetune"]["top1"] < s["rows"]["ticket"]["top1"]
                  for s in seeds if "ticket" in s["rows"])
    print(f"hypothesis per seed: KD < dense FT < ticket {ordered}/{len(seeds)}, KD < dense FT {count('kd', 'finetune')}, "
          f"dense FT < ticket {count('finetune', 'ticket')}, dense best-of < ticket {count('dense_best', 'ticket')}, "
          f"reinit < ticket {count('reinit', 'ticket')}, "
          f"random mask < ticket {count('random_mask', 'ticket')}, "
          f"labeled only < KD {count('scratch', 'kd')}")


if __name__ == "__main__":
    main()
