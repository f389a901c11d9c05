"""Run folders: how they are named, what they hold, and how a finished one is told from a killed one.

Every job (a trained model, a black-box or grey-box extraction, a study, the labeled baselines) owns one folder:

    config.yaml     the resolved job config, written when the run starts (checked when it is opened again)
    ...             the job's own files (checkpoints, the query ledger, stage folders, CSVs)
    metrics.json    the result, written last and atomically: the folder's "finished" marker

Folder names end in the config's hash (:meth:`vidsteal.config.BaseConfig.hash`, non-default values only, so a new
field with a default does not rename old runs). Folders named by the older all-values hash are still found.
Every file here is written with :func:`atomic_write` (tmp file, fsync, rename, fsync the folder): a process killed
mid-write leaves the old file or none, never a truncated one.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import yaml

from vidsteal.config import BaseConfig, load_config

CONFIG = "config.yaml"
METRICS = "metrics.json"


class RunMismatch(ValueError):
    """A run folder holds a different job than the one asked for; resuming would mix two runs."""


# -- writing -------------------------------------------------------------------------------------------------------
def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, even across a kill or a
    power cut: a tmp file in the same folder, fsync, ``os.replace``, fsync of the folder (the rename itself)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)
    return path


def fsync_path(path: str | Path) -> None:
    """Flush a file's bytes, or a folder's entries (a rename into it), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write(path, json.dumps(obj, indent=2))


def write_csv(rows: Iterable[Mapping[str, Any]], path: str | Path, columns: Iterable[str]) -> Path:
    """A CSV with ``columns`` (keys a row lacks stay empty, keys not listed are dropped), written atomically."""
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write(path, buf.getvalue())


def save_config(cfg: BaseConfig, path: str | Path) -> Path:
    return atomic_write(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


# -- opening and finishing -----------------------------------------------------------------------------------------
def open_run(run_dir: str | Path, cfg: BaseConfig, *, ignore: dict[str, Any] | None = None,
             name: str = CONFIG, what: str | None = None) -> Path:
    """Create (or re-open) ``run_dir`` for ``cfg`` and save it as ``name`` (default ``config.yaml``).

    A folder whose saved config differs from ``cfg`` raises :class:`RunMismatch` (``ignore``: a pydantic-style
    exclude of fields that may change between resumes, e.g. which stages are asked for). The saved file is read
    through today's schema, so a field added since (with a default) compares equal, while a *default that changed*
    since the folder was made shows up as a difference instead of being returned as if made with the new default.
    """
    run_dir = Path(run_dir)
    saved = run_dir / name
    if saved.exists():
        if not _same_config(saved, cfg, ignore):
            raise RunMismatch(f"{run_dir} holds a different {what or type(cfg).__name__} (see its {name}; a default "
                              "may have changed since it was made): resuming it would mix two runs, choose another "
                              "folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, saved)
    return run_dir


def _same_config(saved: Path, cfg: BaseConfig, ignore: dict[str, Any] | None = None) -> bool:
    """Whether the config saved at ``saved``, read through today's schema, equals ``cfg`` (``ignore`` left out)."""
    old = load_config(type(cfg), saved)
    return old.model_dump(mode="json", exclude=ignore) == cfg.model_dump(mode="json", exclude=ignore)


def finish(run_dir: str | Path, result: dict[str, Any]) -> dict[str, Any]:
    """Write ``metrics.json``, the commit point: call it after every other file of the run is in place."""
    write_json(Path(run_dir) / METRICS, result)
    return result


def finished(run_dir: str | Path) -> dict[str, Any] | None:
    """The result of a finished run, or None while (or if never) it finished."""
    path = Path(run_dir) / METRICS
    return json.loads(path.read_text()) if path.exists() else None


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Exclusive lock on a run folder; the OS releases it if the process dies, so a killed run never blocks."""
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- naming --------------------------------------------------------------------------------------------------------
def named(parent: str | Path, prefix: str, cfg: BaseConfig, exclude: dict[str, Any] | None = None) -> Path:
    """``parent/<prefix>_<hash>``. While no folder has that name, one made under the older all-values hash of the
    same config is returned, else any ``<prefix>_*`` folder whose saved config is exactly ``cfg``: a run made
    before a default changed is found again by spelling its old value out (its name hashed without it)."""
    parent = Path(parent)
    new = parent / f"{prefix}_{cfg.hash(exclude=exclude)}"
    old = parent / f"{prefix}_{cfg.hash(exclude=exclude, full=True)}"
    if new.exists():
        return new
    if old.is_dir():
        return old
    for folder in sorted(parent.glob(f"{prefix}_*")) if parent.is_dir() else []:
        try:
            if (folder / CONFIG).is_file() and _same_config(folder / CONFIG, cfg, exclude):
                return folder
        except ValueError:  # a ConfigError: unreadable through today's schema, so not this config
            continue
    return new


def train_folder(runs: str | Path, cfg: Any) -> Path:
    """A model trained with labels (``SupervisedConfig``): ``runs/train_<arch>_<hash>``, shared by every caller."""
    return named(runs, f"train_{cfg.arch}", cfg)


def blackbox_folder(runs: str | Path, job: Any) -> Path:
    """A black-box job (``BlackboxJob``): ``runs/blackbox_<method>_<hash>``."""
    return named(runs, f"blackbox_{job.method}", job)


GREYBOX_FREE = {"attack": {"seed": True, "stages": True, "lottery": {"controls": True, "control_levels": True}}}


def greybox_folder(runs: str | Path, run: Any) -> Path:
    """A grey-box run (``GreyboxRun``): ``runs/greybox_<hash>/seed_<s>``. The hash leaves out the seed (a
    sub-folder) and which stages and IMP controls are asked for, so asking for more later resumes the folder."""
    return named(runs, "greybox", run, exclude=GREYBOX_FREE) / f"seed_{run.attack.seed}"


def baselines_folder(runs: str | Path, cfg: BaseConfig) -> Path:
    """The labeled baselines (``BaselinesConfig``): ``runs/baselines_<hash>``."""
    return named(runs, "baselines", cfg)


def study_folder(runs: str | Path, cfg: BaseConfig, now: float | None = None) -> Path:
    """``runs/<timestamp>-demo_<hash>``: a new study gets the current time; the same config again finds its
    existing folder (the latest, if several, under either hash) and resumes there. The hash covers non-default
    values only, so a folder made before a default changed (e.g. a new demo recipe) has the same name: it is
    resumed only if its saved config is the same, else the study starts a new folder beside it."""
    runs = Path(runs)
    tags = [f"demo_{cfg.hash()}", f"demo_{cfg.hash(full=True)}"]
    for tag in tags:
        existing = sorted(runs.glob(f"*-{tag}")) if runs.is_dir() else []
        for folder in reversed(existing):
            if _holds(folder, cfg):
                return folder
    return runs / f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{tags[0]}"


def _holds(folder: Path, cfg: BaseConfig) -> bool:
    """Whether ``folder`` was made for ``cfg`` (or has no saved config yet), compared as :func:`open_run` does."""
    saved = folder / CONFIG
    try:
        return not saved.exists() or _same_config(saved, cfg)
    except ValueError:  # a ConfigError: unreadable through today's schema, so not this config
        return False
