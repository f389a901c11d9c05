"""The defence matrix as a CSV, a table and a trade-off plot (utility lost vs theft prevented), in one report.

Rows come from :func:`vidsteal.pipeline.defend.run_defend`, one per (seed, defence, attack). The table and the plot
average over seeds; "theft prevented" is how many points of held-out top-1 the thief's student loses against the
same attack on the undefended victim (setting ``none``), "utility lost" the share of honest answers whose top-1
differs from the undefended victim's (or that were refused).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from vidsteal.report.plots import tradeoff_plot
from vidsteal.report.render import write_report
from vidsteal.report.study import Figure, Study, Table
from vidsteal.runs import write_csv

COLUMNS = ("seed", "defence", "attack", "utility_top1", "utility_agreement", "utility_tv", "honest_refused",
           "honest_fpr", "student_top1", "student_agreement", "queries", "budget", "blocked", "flagged_at", "thief_w",
           "thief_changed", "thief_tv", "seconds", "path", "answers_of")


def _mean(values: list[Any]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (defence, attack): seed means (and the std of the student's top-1), in the rows' order."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["defence"], row["attack"]), []).append(row)
    out = {}
    for key, group in groups.items():
        top1 = [r["student_top1"] for r in group]
        out[key] = {k: _mean([r[k] for r in group]) for k in ("utility_top1", "utility_agreement", "utility_tv",
                                                               "honest_fpr", "student_top1", "student_agreement",
                                                               "queries", "seconds", "thief_changed", "thief_tv")}
        out[key]["student_std"] = statistics.stdev(top1) if len(top1) > 1 else None
        out[key]["seeds"] = len(group)
        out[key]["flagged_at"] = [r["flagged_at"] for r in group]
        out[key]["blocked"] = sum(bool(r["blocked"]) for r in group)
    for (defence, attack), cell in out.items():
        base = out.get(("none", attack))
        cell["theft_prevented"] = None if base is None else base["student_top1"] - cell["student_top1"]
        cell["utility_lost"] = 1 - cell["utility_agreement"]
    return out


def matrix_table(rows: list[dict[str, Any]]) -> Table:
    cells = summarise(rows)
    defences = list(dict.fromkeys(r["defence"] for r in rows))
    attacks = list(dict.fromkeys(r["attack"] for r in rows))
    header = ["defence", "honest top-1 / agreement", "prob. moved", "honest users flagged"] + \
             [f"{a}: student top-1 / agreement" for a in attacks] + ["thief flagged at (queries)"]
    body = []
    for defence in defences:
        first = cells[(defence, attacks[0])]
        line = [defence, f"{_pct(first['utility_top1'])} / {_pct(first['utility_agreement'])}",
                _pct(first["utility_tv"]), _pct(first["honest_fpr"])]
        for attack in attacks:
            c = cells[(defence, attack)]
            std = f" ± {100 * c['student_std']:.1f}" if c["student_std"] is not None else ""
            blocked = f", blocked in {c['blocked']}/{c['seeds']} at {c['queries']:.0f} q" if c["blocked"] else ""
            paid = f" (paid answers: {_pct(c['thief_changed'])} top-1 changed, TV {_pct(c['thief_tv'])})"
            line.append(f"{_pct(c['student_top1'])}{std} / {_pct(c['student_agreement'])}{blocked}"
                        + (paid if c["thief_changed"] is not None else ""))
        flags = [f"{a} {'/'.join('–' if f is None else str(f) for f in cells[(defence, a)]['flagged_at'])}"
                 for a in attacks]
        line.append("; ".join(flags) if any(r["defence"] == defence and r["flagged_at"] is not None
                                            for r in rows) or "prada" in defence else "")
        body.append(line)
    seeds = sorted({r["seed"] for r in rows})
    caption = (f"Seeds {seeds} (mean, ± std of the student's top-1 over seeds). Honest: the victim's answers to "
               "the real test clips under the defence (top-1, agreement with the undefended victim, total "
               "variation of the revealed probabilities from the honest ones, share of honest users PRADA flagged). "
               "Thief: the student after the attack against the defended victim, on the same test clips; in brackets, "
               "how the defence changed the answers the thief paid for (share whose top-1 differs from the undefended "
               "victim's, total variation of the revealed probabilities). Flagged "
               "at: queries the thief had been answered when PRADA first flagged it, per seed (– never). A PRADA "
               "that does not block that stream changes no answer: its cells reuse the undefended cell's stream "
               "and student, paid once.")
    if any(r["attack"] == "reference" for r in rows):
        caption += (" Attack 'reference': a thief paying for unlabeled clips of the victim's own distribution (an "
                    "in-domain thief; on the embedded benchmark, the ceiling of the data-free rows).")
    return Table(title="Defence x attack matrix", header=header, body=body, caption=caption)


def write_matrix_report(rows: list[dict[str, Any]], cfg: Any, facts: dict[str, Any], run_dir: str | Path) -> Study:
    """``matrix.csv``, ``report.md`` and ``report.html`` (table + plot) into ``run_dir``."""
    run_dir = Path(run_dir)
    write_csv(rows, run_dir / "matrix.csv", COLUMNS)
    study = Study(title=f"vidsteal defend: {cfg.victim} vs {cfg.student} thieves", command=facts.get("command", ""),
                  seeds=list(cfg.seeds), config=cfg.to_dict(), wall_seconds=facts["wall_seconds"],
                  peak_rss_mb=facts["peak_rss_mb"], tables=[matrix_table(rows)])
    study.figures.append(Figure(title="Utility lost vs theft prevented", file="tradeoff.png",
                                caption="One point per defence x attack (mean over seeds); up and left is better "
                                        "for the owner. PRADA flags without changing answers (0 prevented) unless "
                                        "it blocks."))
    study.notes += [
        f"Victim {cfg.victim}: top-1 {100 * facts['victim_top1']:.1f}% on {facts['test_clips']} real test clips "
        f"({cfg.test_data}); budget {cfg.budget} queries per attack and seed; student {cfg.student}.",
        f"Path: {'a real victim server over HTTP' if cfg.serve else 'in-process DefendedOracle'} "
        f"(the same answer path). Torch threads {facts['threads']}.",
        f"PRADA: delta {cfg.prada.delta}, min_queries {cfg.prada.min_queries}; honest streams: {cfg.honest_users} "
        f"users x {cfg.honest_queries} real clips, one per request.",
    ]
    points = [{"defence": d, "attack": a, **c} for (d, a), c in summarise(rows).items()
              if c["theft_prevented"] is not None]
    write_report(study, run_dir, {"tradeoff.png": tradeoff_plot(points)})
    return study
