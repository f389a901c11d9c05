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


def create_prior_for(name: str, clip_size: int, **kwargs: Any) -> ImageGenerator:
    """``create_generator``, rendering at ``clip_size`` when the prior draws at any size (``draws_any_size``: the
    procedural ones) and no size was given: nothing is drawn at 64 px only to be shrunk to 32. A GAN keeps the size
    it was trained at."""
    prior = create_generator(name, **kwargs)
    if prior.draws_any_size and "size" not in kwargs and prior.size != clip_size:
        prior = create_generator(name, **kwargs, size=clip_size)
    return prior
