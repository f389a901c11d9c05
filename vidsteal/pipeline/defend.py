"""``vidsteal defend``: the owner's view. Which defence should I switch on, what does it cost my honest users, and how
much does it slow a thief?

``run_defend(cfg, runs)`` resolves the victim (any spec of :mod:`vidsteal.victims.spec`, with full probabilities)
and the real test data, then for every seed, defence setting (:mod:`vidsteal.pipeline.deploy`) and attack, at the
same budget:

- the honest users' side (:mod:`vidsteal.pipeline.utility`): the victim's top-1 under the defence, its agreement
  with the undefended victim, the probability mass moved, and for PRADA the share of honest users flagged;
- the thief's side: the attack (class embeddings, DFME, noise; grey-box aux KD with ``aux``) against the deployed
  setting, in-process or through a real victim server (``serve``); the student's top-1 and agreement with the
  undefended victim, queries answered (a blocked key answers no more), and for PRADA the queries answered when
  the thief's stream was flagged.

Layout: ``runs/defend_<hash>/<setting>/seed_<s>/honest.json`` and ``.../<attack>/`` (``defence.yaml``, the attack's
run folder ``attack/`` with its query log, ``metrics.json`` last); ``matrix.csv``, ``report.md`` / ``report.html``
with the table and the trade-off plot, and ``metrics.json`` at the top. Every cell is a run folder of
:mod:`vidsteal.runs`: a killed matrix resumes cell by cell, and inside a cell from the attack's query log, so no
query is paid twice (PRADA's memory of the thief is rebuilt from that log, see :func:`deploy.replay_ledger`).
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, field_validator

from vidsteal import runs as run_folders
from vidsteal.attacks.base import Progress
from vidsteal.attacks.greybox import GreyboxConfig, GreyboxDatasets
from vidsteal.config import BaseConfig
from vidsteal.data.clips import to_model_input
from vidsteal.data.sources import EMBEDDED, resolve_aux
from vidsteal.pipeline.blackbox import BlackboxJob, run_blackbox
from vidsteal.pipeline.deploy import (DEFAULT_SETTINGS, DefenceSetting, check_servable, deployed, flag_point,
                                      parse_setting, replay_ledger, thief_signal)
from vidsteal.pipeline.greybox import GreyboxRun, run_greybox
from vidsteal.pipeline.measure import AUDIT_QUERIES, Yardstick, yardstick
from vidsteal.pipeline.utility import false_alarms, utility
from vidsteal.report.defence import write_matrix_report
from vidsteal.victims.defences import PradaConfig
from vidsteal.victims.outputs import OutputMode
from vidsteal.victims.spec import Victim, resolve_victim

BLACKBOX = ("embeddings", "dfme", "noise")
REFERENCE = "reference"  # unlabeled clips of the victim's own distribution: an in-domain thief (embedded victims)
SEEDS_FREE = {"seeds": True}
KD = "kd"


class DefendConfig(BaseConfig):
    """One defence matrix: a victim, its real test data, a budget, the defence settings, the attacks, the seeds."""

    victim: str = Field(description="victim spec: model file, module:factory, http://host:port or oip+http://... "
                                    "(it must reveal full probabilities: the defences act on them)")
    card: str | None = Field(None, description="input-contract card of the victim (default: beside the file)")
    test_data: str = Field(EMBEDDED, description="'embedded', a class folder of videos or a Kinetics-style CSV")
    test_size: int = Field(1000, ge=1, description="test clips (embedded), or at most this many test videos")
    budget: int = Field(2500, ge=1, description="victim queries each attack may pay for, under every defence")
    defences: list[str] = Field(list(DEFAULT_SETTINGS), description="defence settings (see deploy.GRAMMAR)")
    attacks: list[str] = Field(list(BLACKBOX), description="black-box attacks, and 'reference' (a thief paying for "
                               "clips of the victim's own distribution; embedded victims); grey-box KD joins with aux")
    student: str = Field("frame_cnn", description="student architecture of every attack")
    seeds: list[int] = Field([0], min_length=1, description="each cell runs once per seed (also seeds the noise)")
    blackbox: dict[str, Any] = Field(default_factory=dict, description="overrides for every black-box attack")
    per_attack: dict[str, dict[str, Any]] = Field(default_factory=dict, description="overrides for one attack, "
                                                  "e.g. {'dfme': {'batch': 8}} (merged over blackbox)")
    aux: str | None = Field(None, description="unlabeled videos (any layout) or 'embedded': adds grey-box aux KD")
    greybox: dict[str, Any] = Field(default_factory=dict, description="overrides for the grey-box KD config")
    prada: PradaConfig = Field(default_factory=PradaConfig, description="PRADA's settings (block comes from the "
                                                                        "setting's name)")
    honest_users: int = Field(10, ge=1, description="honest users whose streams measure PRADA's false alarms")
    honest_queries: int = Field(200, ge=3, description="real test clips each honest user sends, one by one")
    utility_batch: int = Field(1, ge=1, description="clips per request of the honest user measuring utility")
    serve: bool = Field(False, description="attack each setting through a real victim server over HTTP")
    batch_size: int = Field(256, ge=1, description="clips per victim request and forward pass")

    @field_validator("defences")
    @classmethod
    def _known_settings(cls, names: list[str]) -> list[str]:
        for name in names:
            parse_setting(name)  # one line naming the grammar on a typo
        if len(set(names)) != len(names):
            raise ValueError(f"defences are listed twice: {names}")
        return names

    @field_validator("attacks")
    @classmethod
    def _known_attacks(cls, names: list[str]) -> list[str]:
        unknown = sorted(set(names) - {*BLACKBOX, REFERENCE})
        if unknown:
            raise ValueError(f"unknown attacks {unknown}; expected some of {[*BLACKBOX, REFERENCE]} (grey-box KD "
                             "joins with --aux)")
        return names

    @property
    def all_attacks(self) -> list[str]:
        return list(self.attacks) + ([KD] if self.aux is not None else [])

    def run_dir(self, runs: str | Path) -> Path:
        """``runs/defend_<hash>``, the hash leaving out the seeds (each seed's cells live in ``seed_<s>/``), so
        seeds run apart (e.g. in two processes) and then together share their cells."""
        return run_folders.named(runs, "defend", self, exclude=SEEDS_FREE)


def run_defend(cfg: DefendConfig, runs: str | Path = "runs", *, victim: Victim | None = None,
               progress: Progress | None = None, command: str = "") -> dict[str, Any]:
    """Run (or resume, or return the finished) matrix; returns ``metrics.json``: the rows and the run's facts.

    Args:
        victim: ``cfg.victim`` already resolved with full probabilities (the CLI does, to pass an API key).
    """
    start = time.perf_counter()
    run_dir = run_folders.open_run(cfg.run_dir(runs), cfg, ignore=SEEDS_FREE, what="defence matrix")
    done = run_folders.finished(run_dir)
    if done is not None and done["config"]["seeds"] == cfg.seeds:
        return done
    own = victim is None
    victim = victim or resolve_victim(cfg.victim, card=cfg.card, output_mode=OutputMode(), batch_size=cfg.batch_size)
    try:
        check_servable(victim, cfg.serve)  # before any measurement
        yard = yardstick(victim, cfg.test_data, Path(runs) / AUDIT_QUERIES, size=cfg.test_size)
        rows = _matrix(cfg, run_dir, victim, yard, progress)
    finally:
        if own:
            victim.close()
    facts = {"victim_top1": yard.victim_top1, "test_clips": len(yard.test_set), "audit": yard.summary(),
             "wall_seconds": time.perf_counter() - start, "threads": torch.get_num_threads(),
             "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "command": command}
    write_matrix_report(rows, cfg, facts, run_dir)
    return run_folders.finish(run_dir, {"rows": rows, **facts, "config": cfg.to_dict()})


def _matrix(cfg: DefendConfig, run_dir: Path, victim: Victim, yard: Yardstick,
            progress: Progress | None) -> list[dict[str, Any]]:
    probs = yard.victim_logits.float().softmax(dim=1)
    clips, labels = to_model_input(yard.test_set.clips), yard.test_set.labels
    aux = None if cfg.aux is None else resolve_aux(cfg.aux, victim.card, _kd_config(cfg, 0).data.aux_size,
                                                   seed=cfg.seeds[0])
    total, rows = len(cfg.seeds) * len(cfg.defences) * len(cfg.all_attacks), []
    for seed in cfg.seeds:  # a whole seed first: a matrix cut short still has every cell once
        for name in cfg.defences:
            setting = parse_setting(name, seed, cfg.prada)
            folder = run_dir / setting.folder / f"seed_{seed}"
            honest = _honest(cfg, setting, folder, probs, clips, labels, seed)
            for attack in cfg.all_attacks:
                _report(progress, "defence x attack cells", len(rows), total)
                cell = _cell(cfg, setting, attack, seed, folder / attack, victim, yard, aux, progress)
                payer, paid_in = (setting, folder / attack) if "answers_of" not in cell else _undefended(folder / attack)
                signal = _signal(victim, folder / attack, _ledger(cfg, payer, attack, seed, paid_in))
                rows.append({"seed": seed, "defence": name, "attack": attack, **honest, **cell, **signal})
    _report(progress, "defence x attack cells", len(rows), total)
    return rows


def _report(progress: Progress | None, label: str, done: int, total: int) -> None:
    if progress is not None:
        progress(label, done, total)


def _honest(cfg: DefendConfig, setting: DefenceSetting, folder: Path, probs: torch.Tensor, clips: torch.Tensor,
            labels: torch.Tensor, seed: int) -> dict[str, Any]:
    """Utility and PRADA's false alarms of one setting (cheap: no victim query), cached in ``honest.json``."""
    path = folder / "honest.json"
    if path.exists():
        return json.loads(path.read_text())
    use = utility(setting, probs, clips, labels, cfg.utility_batch)
    alarms = false_alarms(setting, probs, clips, cfg.honest_users, cfg.honest_queries, seed)
    out = {"utility_top1": use["top1"], "utility_agreement": use["agreement"], "utility_tv": use["tv"],
           "honest_refused": use["refused"], "honest_fpr": None if alarms is None else alarms["fpr"],
           "honest_flagged_at": None if alarms is None else alarms["flagged_at"]}
    run_folders.write_json(path, out)
    return out


def _cell(cfg: DefendConfig, setting: DefenceSetting, attack: str, seed: int, cell_dir: Path, victim: Victim,
          yard: Yardstick, aux: Any, progress: Progress | None) -> dict[str, Any]:
    """One attack against one deployed setting; a finished cell is read back, a killed one resumes."""
    run_folders.open_run(cell_dir, setting, name="defence.yaml", what="defence setting")
    done = run_folders.finished(cell_dir)
    if done is not None:
        return done
    start = time.perf_counter()
    same = _same_answers(cfg, setting, attack, seed, cell_dir)
    if same is not None:
        return run_folders.finish(cell_dir, {**same, "seconds": time.perf_counter() - start})
    kd_run = _kd_run(cfg, setting, seed) if attack == KD else None
    attack_dir, ledger = cell_dir / "attack", _ledger(cfg, setting, attack, seed, cell_dir)
    with deployed(victim, setting, serve=cfg.serve, batch_size=cfg.batch_size) as (thief, chain):
        resumed = replay_ledger(chain, ledger)
        if kd_run is not None:
            result = run_greybox(kd_run, attack_dir, data=GreyboxDatasets(aux, _no_labels(yard)),
                                 test_set=yard.test_set, victim_logits=yard.victim_logits, victim=thief,
                                 progress=progress)
            kd = result.metrics["kd"]
            student = {"student_top1": kd["top1"], "student_agreement": kd.get("agreement"), "queries": result.queries}
        else:
            job = BlackboxJob(victim=cfg.victim, card=cfg.card, student=cfg.student, method=attack,
                              attack={**_merged(cfg.blackbox, cfg.per_attack.get(attack, {})), "budget": cfg.budget,
                                      "seed": seed},
                              output_mode=setting.output_mode, test_data=cfg.test_data, test_size=cfg.test_size)
            m = run_blackbox(job, attack_dir, progress, victim=thief, yard=yard)["metrics"]
            student = {"student_top1": m["top1"], "student_agreement": m.get("agreement"),
                       "queries": m["ledger"]["paid"]}
    prada = setting.prada
    flagged = flag_point(prada, ledger) if prada is not None else {}
    blocked = bool(prada is not None and prada.block and student["queries"] < cfg.budget)
    return run_folders.finish(cell_dir, {
        **student, "budget": cfg.budget, "blocked": blocked, "flagged_at": flagged.get("flagged_at"),
        "thief_w": flagged.get("w"), "seconds": time.perf_counter() - start, "resumed_from": resumed,
        "path": "server" if cfg.serve else "in-process"})


def _undefended(cell_dir: Path) -> tuple[DefenceSetting, Path]:
    """The same attack and seed's cell under setting ``none``, beside ``cell_dir`` in the matrix."""
    none = parse_setting("none")
    return none, cell_dir.parents[2] / none.folder / cell_dir.parent.name / cell_dir.name


def _same_answers(cfg: DefendConfig, setting: DefenceSetting, attack: str, seed: int,
                  cell_dir: Path) -> dict[str, Any] | None:
    """PRADA changes no answer until it blocks, so its thief pays for the very stream the undefended victim
    answered: that finished cell's student and queries stand (paid once, not twice); only the flag point, replayed
    from that stream, is this setting's own. A blocking PRADA that flags the stream cuts it, so that cell runs for
    real, as does every cell of the server path (what is measured there is what the server does)."""
    prada = setting.prada
    if prada is None or cfg.serve or setting.output_mode != OutputMode() or len(setting.defences) != 1:
        return None
    none, base_dir = _undefended(cell_dir)
    base = run_folders.finished(base_dir)
    if base is None:  # 'none' not in the matrix, or listed after PRADA
        return None
    flagged = flag_point(prada, _ledger(cfg, none, attack, seed, base_dir))
    if prada.block and flagged["flagged_at"] is not None:
        return None
    return {**{k: base[k] for k in ("student_top1", "student_agreement", "queries", "budget")}, "blocked": False,
            "flagged_at": flagged["flagged_at"], "thief_w": flagged["w"], "resumed_from": 0, "path": base["path"],
            "answers_of": none.name}


def _ledger(cfg: DefendConfig, setting: DefenceSetting, attack: str, seed: int, cell_dir: Path) -> Path:
    """The thief's query log in a cell: the black-box run's, or the grey-box run's inside ``attack/``."""
    attack_dir = cell_dir / "attack"
    return (_kd_run(cfg, setting, seed).run_dir(attack_dir) if attack == KD else attack_dir) / "queries"


def _signal(victim: Victim, cell_dir: Path, ledger: Path) -> dict[str, Any]:
    """What the defence did to the thief's paid answers (:func:`deploy.thief_signal`), cached in ``signal.json``."""
    path = cell_dir / "signal.json"
    if path.exists():
        return json.loads(path.read_text())
    out = thief_signal(victim, ledger)
    run_folders.write_json(path, out)
    return out


def _kd_config(cfg: DefendConfig, seed: int) -> GreyboxConfig:
    attack = GreyboxConfig.model_validate({**cfg.greybox, "stages": (KD,), "budget": cfg.budget, "seed": seed})
    return attack.model_copy(update={"data": attack.data.model_copy(update={"aux": cfg.aux})})


def _kd_run(cfg: DefendConfig, setting: DefenceSetting, seed: int) -> GreyboxRun:
    return GreyboxRun(victim=cfg.victim, card=cfg.card, student=cfg.student, output_mode=setting.output_mode,
                      test_data=cfg.test_data, test_size=cfg.test_size, attack=_kd_config(cfg, seed))


def _no_labels(yard: Yardstick) -> Any:
    return yard.test_set.subset(torch.zeros(0, dtype=torch.long))  # KD only: the labeled set is never read


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
