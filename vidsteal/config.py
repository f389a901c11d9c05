"""Typed configs: pydantic models that forbid unknown keys, load from YAML, take ``a.b=v`` overrides, hash to a name.

Every experiment is a config; the resolved config is written into its run folder (see :mod:`vidsteal.runs`), and
the short hash of its non-default values names that folder, so re-running the same command finds (and resumes)
the same run, and adding a field with a default renames no folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar, Iterable, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

C = TypeVar("C", bound="BaseConfig")


class ConfigError(ValueError):
    """A config file or override that does not fit its schema; the message says which key and why."""


class BaseConfig(BaseModel):
    """Base for every config: frozen, misspelt keys are errors, fields carry a description for ``--help``."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())
    # Fields added after run folders were saved, each with the value a config saved before it behaved as.
    ADDED_LATER: ClassVar[dict[str, Any]] = {}

    @model_validator(mode="before")
    @classmethod
    def _saved_before_fields(cls, data: Any) -> Any:
        """A *complete* saved config (every other field present, as ``to_dict`` writes it) that lacks a field of
        ``ADDED_LATER`` was saved before the field existed: it reads with the value it then behaved as, so an old run
        folder resumes as it started and never passes for one of today's defaults. What users write is partial and
        keeps today's defaults."""
        if not cls.ADDED_LATER or not isinstance(data, dict):
            return data
        missing = {k: v for k, v in cls.ADDED_LATER.items() if k not in data}
        return {**data, **missing} if missing and set(cls.model_fields) - set(missing) <= set(data) else data

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def hash(self, length: int = 8, exclude: dict[str, Any] | None = None, full: bool = False) -> str:
        """Short content hash of the values that differ from their defaults (at every nesting level); equal
        configs share a run folder, and a field added later with a default leaves every hash as it was.

        Args:
            exclude: fields left out (pydantic's nested ``exclude``), e.g. the seed of a per-seed sub-folder.
            full: hash all values instead (the scheme run folders were named by before; for finding them).
        """
        data = self.model_dump(mode="json", exclude=exclude, exclude_defaults=not full)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:length]


def parse_override(item: str) -> tuple[list[str], Any]:
    """``train.lr=0.01`` -> (['train', 'lr'], 0.01); the value is parsed as YAML so types come out right."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key.path=value")
    key, raw = item.split("=", 1)
    if not key:
        raise ConfigError(f"override {item!r} has an empty key")
    return key.split("."), yaml.safe_load(raw) if raw else ""


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    data = json.loads(json.dumps(data))  # deep copy of plain data
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        node[path[-1]] = value
    return data


def load_config(cls: type[C], path: str | Path | None = None, overrides: Iterable[str] = (),
                base: BaseConfig | None = None) -> C:
    """Build ``cls`` from ``base`` (or defaults), then a YAML file's top-level keys, then overrides."""
    data: dict[str, Any] = base.to_dict() if base is not None else {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"cannot read config {path}: {err}") from err
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config {path} must be a mapping at the top level")
        data.update(loaded or {})
    data = apply_overrides(data, overrides)
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        raise ConfigError(f"invalid {cls.__name__}" + (f" in {path}" if path else "") + ":\n" + "\n".join(lines)) from None
