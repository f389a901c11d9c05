"""Attack registry: ``@register_attack`` on an Attack subclass, ``create_attack("name", **config)``."""

from __future__ import annotations

from typing import Any

from vidsteal.attacks.base import Attack, AttackConfig
from vidsteal.registry import Registry

ATTACKS: Registry[type[Attack]] = Registry("attack")


def register_attack(cls: type[Attack]) -> type[Attack]:
    return ATTACKS.register(cls.name)(cls)


def list_attacks(pattern: str = "*") -> list[str]:
    return ATTACKS.list(pattern)


def create_attack(name: str, config: AttackConfig | dict[str, Any] | None = None, **overrides: Any) -> Attack:
    """Build a registered attack from its config (or a dict of it); ``None`` overrides are dropped."""
    cls = ATTACKS.get(name)
    if config is None or isinstance(config, dict):
        data = {**(config or {}), **{k: v for k, v in overrides.items() if v is not None}}
        config = cls.config_class.model_validate(data)
    elif overrides:
        config = config.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    return cls(config)
