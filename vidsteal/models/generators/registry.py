"""Generator registry: ``@register_generator`` on a builder, ``create_generator("eye_dcgan")`` returns it frozen."""

from __future__ import annotations

from typing import Any, Callable

from vidsteal.models.generators.base import ImageGenerator
from vidsteal.registry import Registry

GENERATORS: Registry[Callable[..., ImageGenerator]] = Registry("generator")
register_generator = GENERATORS.register


def list_generators(pattern: str = "*") -> list[str]:
    return GENERATORS.list(pattern)


def create_generator(name: str, **kwargs: Any) -> ImageGenerator:
    """Build a registered prior in eval mode with frozen weights; ``None`` kwargs are dropped."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return GENERATORS.get(name)(**kwargs).freeze()
