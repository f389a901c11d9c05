"""Generator priors (``G(z, class_vector) -> images``) for data-free extraction, and DFME's clip generator."""

from vidsteal.models.generators import biggan, dcgan, procedural  # noqa: F401  (registration)
from vidsteal.models.generators.base import ImageGenerator
from vidsteal.models.generators.registry import (
    GENERATORS, create_generator, create_prior_for, list_generators, register_generator,
)

__all__ = ["GENERATORS", "ImageGenerator", "create_generator", "create_prior_for", "list_generators",
           "register_generator"]
