"""Extraction attacks: a registry of attack classes, each owning its typed config."""

from vidsteal.attacks.base import Attack, AttackConfig, AttackContext, AttackResult
from vidsteal.attacks.registry import ATTACKS, create_attack, list_attacks, register_attack

__all__ = ["ATTACKS", "Attack", "AttackConfig", "AttackContext", "AttackResult", "create_attack", "list_attacks",
           "register_attack"]
