"""Victims: the oracle interface, backends, the one answer path, output modes, exact budgets, the durable query log."""

from vidsteal.victims.answer import AnswerPath, VictimInputError, VictimModel
from vidsteal.victims.base import Oracle, OracleError
from vidsteal.victims.defences import DefenceChain
from vidsteal.victims.defended import DefendedOracle
from vidsteal.victims.hashes import clip_hash, clip_hashes
from vidsteal.victims.http import HttpOracle, RemoteError
from vidsteal.victims.oip import OipOracle
from vidsteal.victims.budget import BudgetedOracle, BudgetExceeded, QueryBudget
from vidsteal.victims.ledger import LedgerError, QueryLedger
from vidsteal.victims.local import LocalOracle
from vidsteal.victims.logged import LoggedOracle
from vidsteal.victims.outputs import Answers, OutputKind, OutputMode, apply_output_mode
from vidsteal.victims.rank_zero import RankZeroOracle

__all__ = [
    "AnswerPath", "Answers", "BudgetExceeded", "BudgetedOracle", "DefenceChain", "DefendedOracle", "HttpOracle",
    "LedgerError", "LocalOracle", "LoggedOracle", "OipOracle", "Oracle", "OracleError", "OutputKind", "OutputMode",
    "QueryBudget", "QueryLedger", "RankZeroOracle", "RemoteError", "VictimInputError", "VictimModel",
    "apply_output_mode", "clip_hash", "clip_hashes",
]
