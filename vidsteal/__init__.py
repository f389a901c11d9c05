"""vidsteal: model-extraction audits for video classifiers.

Library first: every CLI command is one of these calls.

    >>> from vidsteal import BenchmarkConfig, make_split, create_model
    >>> train = make_split(BenchmarkConfig(), "train", 6000)
"""

from vidsteal.config import BaseConfig, ConfigError, load_config
from vidsteal.data.embedded import ClipDataset, make_auxiliary, make_split
from vidsteal.data.subsets import labeled_subset
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.eval.evaluate import evaluate, predict
from vidsteal.models import ModelCard, create_model, list_models, load_model, save_model
from vidsteal.train.loop import OptimConfig, fit
from vidsteal.train.supervised import SupervisedConfig, train_supervised

__version__ = "0.1.0"

__all__ = [
    "BaseConfig", "BenchmarkConfig", "ClipDataset", "ConfigError", "ModelCard", "OptimConfig", "SupervisedConfig",
    "create_model", "evaluate", "fit", "labeled_subset", "list_models", "load_config", "load_model", "make_auxiliary",
    "make_split", "predict", "save_model", "train_supervised",
]
