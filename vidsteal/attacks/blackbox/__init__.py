"""Black-box (data-free, query-only) extraction: class-embedding search over a generator prior, DFME, noise."""

from vidsteal.attacks.blackbox import dfme, embeddings, noise  # noqa: F401  (registration)
from vidsteal.attacks.blackbox.session import BlackboxAttack, BlackboxConfig, Session

__all__ = ["BlackboxAttack", "BlackboxConfig", "Session"]
