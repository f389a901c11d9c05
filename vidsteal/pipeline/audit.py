"""``vidsteal audit``: how easily can *this* victim be stolen at *this* budget? One call, one report.

``run_audit(cfg, runs)`` resolves the victim (any spec of :mod:`vidsteal.victims.spec`) and the user's test data,
measures the victim's own top-1 on it (paid once as audit queries for a remote victim, see
:mod:`vidsteal.pipeline.measure`), runs every black-box method asked for at the budget, and the grey-box stages
when the user gives auxiliary or labeled videos; then writes the same report as the demo (table with the victim's
top-1, accuracy-vs-queries plot, the victim's favourite paid clips, real test clips, the exact command, queries
paid, wall time). Every stage lives in its own run folder under ``runs/audit_<hash>/`` with its durable query
log, so re-running the same command resumes where it stopped and pays no query twice.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, model_validator

from vidsteal import runs as run_folders
from vidsteal.attacks.base import Progress
from vidsteal.attacks.blackbox import with_chosen_temperature
from vidsteal.attacks.greybox import GreyboxConfig, GreyboxDatasets
from vidsteal.config import BaseConfig
from vidsteal.data.sources import EMBEDDED, resolve_aux, resolve_labeled
from vidsteal.pipeline.blackbox import BlackboxJob, run_blackbox
from vidsteal.pipeline.greybox import GreyboxRun, run_greybox
from vidsteal.pipeline.measure import AUDIT_QUERIES, Yardstick, yardstick
from vidsteal.report.plots import clip_grid, curves_plot
from vidsteal.report.render import write_report
from vidsteal.report.study import Cell, Figure, Study, VictimInfo
from vidsteal.victims.outputs import OutputMode
from vidsteal.victims.spec import Victim, resolve_victim

ROW = {"reference": "ceiling: same budget on clips of the victim's own distribution (not an attack)"}
GREYBOX_ROWS = {"kd": "grey-box KD (aux videos)", "finetune": "fine-tune labeled (dense)",
                "ticket": "fine-tune labeled (winning ticket)", "reinit": "ticket mask, random re-init (control)"}


class AuditConfig(BaseConfig):
    """One audit: a victim, the user's test data, a query budget, the methods and (optionally) grey-box data."""

    ADDED_LATER = {"temperature": 1.0}  # audits saved before the field trained every student at 1

    victim: str = Field(description="victim spec: model file, module:factory, http://host:port or oip+http://...")
    card: str | None = Field(None, description="input-contract card of the victim (default: beside the file)")
    test_data: str = Field(EMBEDDED, description="'embedded', a class folder of videos or a Kinetics-style CSV")
    test_size: int = Field(1000, ge=1, description="test clips (embedded), or at most this many test videos")
    budget: int = Field(20_000, ge=1, description="victim queries each attack may pay for (audit queries apart)")
    # prior (the search's ablation) beside embeddings (the reference study's search): neither wins everywhere
    # (README, session 30), and an audit reports the stronger
    methods: list[str] = Field(["noise", "dfme", "embeddings", "prior"], description="black-box methods to run")
    student: str = Field("frame_cnn", description="student architecture of every attack")
    output_mode: OutputMode = Field(default_factory=OutputMode, description="what each victim answer reveals")
    seed: int = Field(0, ge=0)
    blackbox: dict[str, Any] = Field(default_factory=dict, description="overrides for every black-box method's "
                                                                       "config, e.g. {'distill': {'epochs': 1}}")
    temperature: float | None = Field(None, gt=0, description="KD temperature of the data-free methods' students "
                                      "(embeddings, prior, noise); None: the val-chosen rule, 8 up to 30k queries of "
                                      "probabilities, else 1 (vidsteal.attacks.blackbox.chosen_temperature); "
                                      "a distill.temperature in blackbox wins")
    aux: str | None = Field(None, description="unlabeled videos (any layout) for grey-box KD, or 'embedded'")
    labeled: str | None = Field(None, description="labeled videos (class folder or CSV) for grey-box fine-tuning")
    labeled_fraction: float = Field(0.05, gt=0, le=1, description="share of --labeled the attacker holds")
    greybox: dict[str, Any] = Field(default_factory=dict, description="overrides for the grey-box config")
    ceiling_data: str | None = Field(None, description="clips of the victim's own distribution (a folder, disjoint "
                                     "from the test data; 'embedded' for an embedded victim): adds the ceiling row, "
                                     "the same student and budget on them")

    @model_validator(mode="after")
    def _labeled_needs_aux(self) -> "AuditConfig":
        if self.labeled is not None and self.aux is None:
            raise ValueError("--labeled needs --aux: grey-box fine-tuning starts from the student distilled on the "
                             "auxiliary videos")
        return self

    def run_dir(self, runs: str | Path) -> Path:
        return run_folders.named(runs, "audit", self)


def run_audit(cfg: AuditConfig, runs: str | Path = "runs", *, victim: Victim | None = None,
              progress: Progress | None = None, command: str = "") -> Study:
    """Run (or resume) the audit and write ``report.md`` / ``report.html`` into :meth:`AuditConfig.run_dir`.

    Args:
        victim: the resolved victim (the CLI resolves it to pass an API key); default: resolve ``cfg.victim``.
    """
    start = time.perf_counter()
    run_dir = run_folders.open_run(cfg.run_dir(runs), cfg, what="audit")
    own = victim is None
    victim = victim or resolve_victim(cfg.victim, card=cfg.card, output_mode=cfg.output_mode)
    try:
        yard = yardstick(victim, cfg.test_data, Path(runs) / AUDIT_QUERIES, size=cfg.test_size, seed=cfg.seed)
        study = Study(title=f"vidsteal audit of {cfg.victim}", command=command, seeds=[cfg.seed],
                      config=cfg.to_dict())
        curves, figures = _blackbox(cfg, victim, yard, run_dir, progress, study)
        if cfg.aux is not None:
            _greybox(cfg, victim, yard, run_dir, progress, study)
    finally:
        if own:
            victim.close()
    name = "victim"
    chance = 1 / victim.card.num_classes
    study.victims[name] = VictimInfo(arch=f"{victim.kind} victim", student=cfg.student, top1=yard.victim_top1)
    figures["curves.png"] = curves_plot(curves, f"{cfg.victim} → {cfg.student}: black box", yard.victim_top1,
                                        chance=chance)
    study.figures.insert(0, Figure(title="Accuracy vs queries", file="curves.png",
                                   caption="Held-out top-1 of each student while its attack pays queries."))
    figures["real_clips.png"] = _real_clips(yard)
    study.figures.append(Figure(title="Real clips (your test data)", file="real_clips.png",
                                caption="One test clip per class, as the victim receives it (frames left to right)."))
    study.notes += [
        f"Victim {cfg.victim} ({victim.kind}, {victim.card.num_classes} classes, clips of {victim.card.frames} frames "
        f"of {victim.card.size}x{victim.card.size}); chance is {100 * chance:.1f}%.",
        f"Test data: {cfg.test_data}, {len(yard.test_set)} clips; the victim's own top-1 on them is "
        f"{100 * yard.victim_top1:.1f}%.",
        f"Audit queries (measuring the victim on the test data, never charged to an attack): {yard.audit_total} in "
        f"the audit ledger" + (f" {yard.audit_ledger}" if yard.audit_ledger else " (in-process victim: none needed)")
        + f", {yard.audit_paid} paid by this run.",
        *_temperature_notes(cfg),
    ]
    study.wall_seconds = time.perf_counter() - start
    study.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    write_report(study, run_dir, figures)
    return study


def _blackbox(cfg: AuditConfig, victim: Victim, yard: Yardstick, run_dir: Path, progress: Progress | None,
              study: Study) -> tuple[dict[str, list[dict[str, float]]], dict[str, bytes]]:
    curves: dict[str, list[dict[str, float]]] = {}
    figures: dict[str, bytes] = {}
    methods = [*cfg.methods, *(["reference"] if cfg.ceiling_data is not None else [])]
    best = (-1.0, "")
    for method in methods:
        job = BlackboxJob(victim=cfg.victim, card=cfg.card, student=cfg.student, method=method,
                          attack=audit_attack(cfg, method),
                          output_mode=cfg.output_mode, test_data=cfg.test_data, test_size=cfg.test_size)
        folder = run_dir / "blackbox" / method
        out = run_blackbox(job, folder, progress, victim=victim, yard=yard)
        m = out["metrics"]
        study.rows[ROW.get(method, f"black box: {method}")] = {
            "victim": Cell(top1=m["top1"], agreement=m.get("agreement"), queries=m["ledger"]["paid"])}
        curves[method] = out["curve"]
        if method != "reference":
            best = max(best, (m["top1"], method))
        strip = folder / "samples" / "all.png"
        if strip.exists():
            figures[f"samples_{method}.png"] = strip.read_bytes()
            study.figures.append(Figure(title=f"Paid clips the victim liked best ({method})",
                                        file=f"samples_{method}.png",
                                        caption="Per victim class, the paid clip it scored highest for that class."))
    if best[1]:
        study.notes.append(f"Strongest black-box attack: {best[1]}, {100 * best[0]:.1f}% top-1 on the test data "
                           f"after {cfg.budget:,} queries (the answer to how easily the victim is stolen).")
    return curves, figures


def audit_attack(cfg: AuditConfig, method: str) -> dict[str, Any]:
    """The config overrides of ``method``'s run: the user's ``blackbox`` ones, the budget and seed, the ceiling's
    data, and the data-free students' KD temperature (``temperature``, or the val-chosen rule)."""
    attack = {**cfg.blackbox, "budget": cfg.budget, "seed": cfg.seed}
    if method == "reference" and cfg.ceiling_data not in (None, EMBEDDED):
        attack["data"] = cfg.ceiling_data
    return with_chosen_temperature(attack, method, cfg.budget, cfg.output_mode.kind, cfg.temperature)


def _temperature_notes(cfg: AuditConfig) -> list[str]:
    """What the report says about the KD temperature each data-free student learnt at (when it is not 1)."""
    notes = []
    for method in cfg.methods:
        temperature = (audit_attack(cfg, method).get("distill") or {}).get("temperature", 1.0)
        if temperature != 1.0:
            notes.append(f"The {method} student learnt the victim's answers at KD temperature {temperature:g}"
                         + (" (the val-chosen rule for budgets up to 30k queries of probabilities)."
                            if cfg.temperature is None and "temperature" not in (cfg.blackbox.get("distill") or {})
                            else "."))
    return notes


def _greybox(cfg: AuditConfig, victim: Victim, yard: Yardstick, run_dir: Path, progress: Progress | None,
             study: Study) -> None:
    """KD on the auxiliary videos; with labeled videos also fine-tuning and the lottery ticket, at the same budget."""
    assert cfg.aux is not None
    stages = ("kd", "finetune", "lottery") if cfg.labeled is not None else ("kd",)
    attack = GreyboxConfig.model_validate({"stages": stages, **cfg.greybox, "budget": cfg.budget, "seed": cfg.seed})
    data = attack.data.model_copy(update={"aux": cfg.aux, "labeled": cfg.labeled or EMBEDDED,
                                          "labeled_fraction": cfg.labeled_fraction})
    attack = attack.model_copy(update={"data": data})
    run = GreyboxRun(victim=cfg.victim, card=cfg.card, student=cfg.student, output_mode=cfg.output_mode,
                     test_data=cfg.test_data, test_size=cfg.test_size, attack=attack)
    aux = resolve_aux(cfg.aux, victim.card, data.aux_size, seed=cfg.seed)
    if cfg.labeled is not None:
        labeled = resolve_labeled(cfg.labeled, victim.card, cfg.labeled_fraction, seed=cfg.seed)
    else:  # KD only: the labeled set is never read
        labeled = yard.test_set.subset(torch.zeros(0, dtype=torch.long))
    result = run_greybox(run, run_dir / "greybox", data=GreyboxDatasets(aux, labeled), test_set=yard.test_set,
                         victim_logits=yard.victim_logits, victim=victim, progress=progress)
    for key, label in GREYBOX_ROWS.items():
        if isinstance(result.metrics.get(key), dict):
            study.rows[label] = {"victim": Cell(top1=result.metrics[key]["top1"],
                                                agreement=result.metrics[key].get("agreement"), queries=result.queries)}


def _real_clips(yard: Yardstick, per_figure: int = 12) -> bytes:
    labels = yard.test_set.labels.tolist()
    first = {int(label): i for i, label in reversed(list(enumerate(labels)))}
    classes = yard.test_set.classes
    return clip_grid([(classes[c], yard.test_set.clips[i]) for c, i in sorted(first.items())[:per_figure]])
