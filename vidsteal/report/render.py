"""Render a :class:`Study` as Markdown (figures as files) and as one self-contained HTML page (figures inline)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from vidsteal.report.study import REFERENCE_TABLE, Study, Table


def _fmt(value: float | None, pct: bool = True) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}%" if pct else f"{value:,}"


def _cell_text(study: Study, method: str, victim: str) -> str:
    cell = study.rows[method].get(victim)
    if cell is None:
        return "–"
    top1 = _fmt(cell.top1) + (f" ± {100 * cell.top1_std:.1f}" if cell.top1_std is not None and cell.seeds > 1 else "")
    return f"{top1} / {_fmt(cell.agreement)} / {_fmt(cell.queries, pct=False)}"


def table_rows(study: Study) -> tuple[list[str], list[list[str]]]:
    """Header and body of the main table: methods x victims, cells 'top-1 / agreement / queries'."""
    victims = list(study.victims)
    header = ["method"] + [f"{study.victims[v].arch} → {study.victims[v].student}" for v in victims]
    body = [["victim's own top-1"] + [_fmt(study.victims[v].top1) for v in victims]]
    if any(study.victims[v].ceiling_top1 is not None for v in victims):
        body.append(["ceiling (same budget, victim's own distribution)"]
                    + [_fmt(study.victims[v].ceiling_top1) for v in victims])
    body += [[method] + [_cell_text(study, method, v) for v in victims] for method in study.rows]
    return header, body


def spent_rows(study: Study) -> tuple[list[str], list[list[str]]]:
    """Header and body of the account table: per pair and method, over its seeds, the queries paid against the
    budget and, for searches, the classes that reached the confidence threshold and the queries the search spent."""
    groups: dict[tuple[str, str], list] = {}
    for rec in study.spent:
        groups.setdefault((rec.pair, rec.method), []).append(rec)
    header = ["pair", "method", "seeds", "queries paid / budget", "classes at threshold", "search queries"]
    body = []
    for (pair, method), recs in groups.items():
        paid = sorted({f"{r.paid:,} / {r.budget:,}" for r in recs})
        reached = [f"{r.classes_reached}/{r.classes} at {r.threshold:.2f}" for r in recs if r.classes is not None]
        search = [f"{r.search_queries:,}" for r in recs if r.search_queries is not None]
        body.append([pair, method, ", ".join(str(r.seed) for r in recs), "; ".join(paid),
                     "; ".join(reached) or "–", "; ".join(search) or "–"])
    return header, body


def _reference_rows() -> tuple[list[str], list[list[str]]]:
    cols = list(next(iter(REFERENCE_TABLE.values())))
    return ["method"] + cols, [[m] + [_fmt(v[c]) for c in cols] for m, v in REFERENCE_TABLE.items()]


def _tables(study: Study) -> list[Table]:
    """The study's own tables, after the account of what each attack paid (when the study has one)."""
    if not study.spent:
        return list(study.tables)
    header, body = spent_rows(study)
    return [Table(title="What each attack did", header=header, body=body,
                  caption="Per pair and method, over its seeds: queries paid against the budget (every count equals "
                          "the run's query log) and, for searches, the classes that reached the confidence threshold "
                          "and the queries the search spent."), *study.tables]


def render_markdown(study: Study) -> str:
    header, body = table_rows(study)
    lines = [f"# {study.title}", ""]
    if study.command:
        lines += ["Reproduce with:", "", f"```\n{study.command}\n```", ""]
    if study.victims:  # a study of victims and students (a defence matrix has only its own tables)
        lines += ["Cells: student top-1 on held-out clips / agreement with the victim / victim queries paid"
                  + (f" (mean ± std over seeds {study.seeds})." if len(study.seeds) > 1 else "."), ""]
        lines += _md_table(header, body)
        lines += ["", "Reference study (Kinetics scale, student top-1):", ""] + _md_table(*_reference_rows())
    for table in _tables(study):
        lines += ["", f"## {table.title}", "", table.caption, ""] + _md_table(table.header, table.body)
    for fig in study.figures:
        lines += ["", f"## {fig.title}", "", f"![{fig.title}](figures/{fig.file})", "", fig.caption]
    if study.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in study.notes]
    if study.wall_seconds is not None:
        lines += ["", f"Wall time {study.wall_seconds:.0f} s"
                  + (f", peak RSS {study.peak_rss_mb:.0f} MB." if study.peak_rss_mb else ".")]
    lines += ["", "## Config", "", "```json", json.dumps(study.config, indent=2), "```", ""]
    return "\n".join(lines)


def _md_table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in body]


_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}figure{display:inline-block;margin:8px}
img{max-width:520px;border:1px solid #eee}pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:12px}
figcaption{font-size:12px;color:#555;max-width:520px}"""


def _html_table(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><tr>{head}</tr>{rows}</table>"


def render_html(study: Study, figures_dir: Path) -> str:
    """One file with every figure embedded as a data URI, so the report can be mailed."""
    header, body = table_rows(study)
    ref = _html_table(*_reference_rows())
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(study.title)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(study.title)}</h1>"]
    if study.command:
        parts.append(f"<p>Reproduce with:</p><pre>{html.escape(study.command)}</pre>")
    if study.victims:
        parts.append("<p>Cells: student top-1 on held-out clips / agreement with the victim / victim queries paid.</p>")
        parts.append(_html_table(header, body))
        parts.append(f"<p>Reference study (Kinetics scale, student top-1):</p>{ref}")
    for table in _tables(study):
        parts.append(f"<h2>{html.escape(table.title)}</h2><p>{html.escape(table.caption)}</p>"
                     + _html_table(table.header, table.body))
    for fig in study.figures:
        data = base64.b64encode((figures_dir / fig.file).read_bytes()).decode()
        parts.append(f"<figure><figcaption><b>{html.escape(fig.title)}</b></figcaption>"
                     f"<img alt='{html.escape(fig.title)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>")
    if study.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in study.notes) + "</ul>")
    if study.wall_seconds is not None:
        rss = f", peak RSS {study.peak_rss_mb:.0f} MB" if study.peak_rss_mb else ""
        parts.append(f"<p>Wall time {study.wall_seconds:.0f} s{rss}.</p>")
    parts.append(f"<h2>Config</h2><pre>{html.escape(json.dumps(study.config, indent=2))}</pre></body></html>")
    return "".join(parts)


def write_report(study: Study, run_dir: str | Path, figures: dict[str, bytes] | None = None) -> tuple[Path, Path]:
    """Write ``study.json``, ``figures/*.png``, ``report.md`` and ``report.html`` into ``run_dir``."""
    run_dir = Path(run_dir)
    figures_dir = run_dir / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    for name, data in (figures or {}).items():
        (figures_dir / name).write_bytes(data)
    missing = [f.file for f in study.figures if not (figures_dir / f.file).exists()]
    if missing:
        raise FileNotFoundError(f"figures listed in the study are missing: {missing}")
    (run_dir / "study.json").write_text(study.model_dump_json(indent=2))
    md, page = run_dir / "report.md", run_dir / "report.html"
    md.write_text(render_markdown(study))
    page.write_text(render_html(study, figures_dir))
    return md, page


def rerender(run_dir: str | Path) -> tuple[Path, Path]:
    """Re-render a report from the ``study.json`` and figures already in ``run_dir``."""
    run_dir = Path(run_dir)
    path = run_dir / "study.json"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} has no study.json; is it a vidsteal study run folder?")
    return write_report(Study.model_validate_json(path.read_text()), run_dir)
