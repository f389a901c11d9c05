"""Prior sampling: the class-embedding attack without its search, i.e. the generator prior's own clips (with the
same motion renderer, student-driven selection and augmentation), labelled by the victim.

Why a method of its own: it is the search's ablation, and on every victim vidsteal did not train it transfers at
least as well as the search (test, 10k queries, seeds 0-2; README, sessions 29-30): a 3D CNN on real footage
98.0% vs 80.2% with the search (3D student) and 94.8 vs 86.5% (per-frame CNN), Fashion-MNIST 67.4 vs 65.4%. The
search pays only where the prior looks like the victim's own data (the embedded benchmark: per-frame CNN 41.0 vs
36.2% at 10k on val, Swin -> ViT-Tiny 23.8 vs 21.1%). An audit runs both and reports the stronger. Threat model and
cost: query access only, any output mode; one query per pool clip, nothing spent on search.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from vidsteal.attacks.blackbox.class_embedding import SearchConfig
from vidsteal.attacks.blackbox.embeddings import EmbeddingAttack, EmbeddingConfig
from vidsteal.attacks.blackbox.pool import PoolConfig
from vidsteal.attacks.registry import register_attack


class PriorSamplingConfig(EmbeddingConfig):
    search: SearchConfig = Field(default_factory=lambda: SearchConfig(max_iters=0), description="no search")
    pool: PoolConfig = Field(default_factory=lambda: PoolConfig(mix={"prior": 1.0}), description="the prior alone")


@register_attack
class PriorSamplingAttack(EmbeddingAttack):
    name = "prior"
    config_class: ClassVar[type[PriorSamplingConfig]] = PriorSamplingConfig  # type: ignore[assignment]
