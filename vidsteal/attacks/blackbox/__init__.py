"""Black-box (data-free, query-only) extraction: class-embedding search over a generator prior, DFME, noise,
and the reference ceiling (victim's own distribution, same budget) they are measured against."""

from vidsteal.attacks.blackbox import dfme, embeddings, noise, prior, reference  # noqa: F401  (registration)
from vidsteal.attacks.blackbox.online import chosen_temperature, with_chosen_temperature
from vidsteal.attacks.blackbox.session import BlackboxAttack, BlackboxConfig, Session

__all__ = ["BlackboxAttack", "BlackboxConfig", "Session", "chosen_temperature", "with_chosen_temperature"]
