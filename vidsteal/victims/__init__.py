"""Victims: the oracle interface, backends, output modes, exact budgets and the durable query log."""

from vidsteal.victims.base import Oracle, OracleError
from vidsteal.victims.defences import DefenceChain, DefendedOracle
from vidsteal.victims.http import HttpOracle, RemoteError
from vidsteal.victims.oip import OipOracle
from vidsteal.victims.budget import BudgetedOracle, BudgetExceeded, QueryBudget
from vidsteal.victims.ledger import LedgerError, LoggedOracle, QueryLedger, clip_hash
from vidsteal.victims.local import LocalOracle
from vidsteal.victims.outputs import Answers, OutputKind, OutputMode, apply_output_mode

__all__ = [
    "Answers", "BudgetExceeded", "BudgetedOracle", "DefenceChain", "DefendedOracle", "HttpOracle", "OipOracle",
    "RemoteError", "LedgerError", "LocalOracle", "LoggedOracle", "Oracle",
    "OracleError", "OutputKind", "OutputMode", "QueryBudget", "QueryLedger", "apply_output_mode", "clip_hash",
]
