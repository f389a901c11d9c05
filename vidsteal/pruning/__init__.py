"""Pruning: masks as artifacts, magnitude strategies, and mask enforcement during training.

The lottery-ticket loop that uses these lives in :mod:`vidsteal.attacks.greybox.lottery`.
"""

from vidsteal.pruning.apply import MaskedTraining, SnapshotAt, apply_mask, load_state, model_sparsity, save_state
from vidsteal.pruning.magnitude import (
    STRATEGIES,
    PruningConfig,
    expected_sparsity,
    list_strategies,
    magnitude_threshold,
    prune,
    rounds_for,
)
from vidsteal.pruning.mask import LayerSelection, Mask, head_name, prunable_names

__all__ = [
    "STRATEGIES", "LayerSelection", "Mask", "MaskedTraining", "PruningConfig", "SnapshotAt", "apply_mask",
    "expected_sparsity", "head_name", "list_strategies", "load_state", "magnitude_threshold", "model_sparsity",
    "prunable_names", "prune", "rounds_for", "save_state",
]
