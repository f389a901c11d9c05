"""Grey-box extraction: KD on an irrelevant set, fine-tuning on a labeled fraction, lottery tickets (IMP).

Importing this package registers the ``greybox`` attack.
"""

from vidsteal.attacks.greybox.attack import STAGES, GreyboxAttack, GreyboxConfig, resolve_stages
from vidsteal.attacks.greybox.aux_kd import aux_kd
from vidsteal.attacks.greybox.data import GreyboxData, GreyboxDatasets, load_aux, load_greybox_data, load_labeled
from vidsteal.attacks.greybox.finetune import (
    AnsweredClips,
    FinetuneConfig,
    finetune,
    finetune_loss,
    labeled_training_set,
    make_trainer,
)
from vidsteal.attacks.greybox.lottery import LotteryConfig, run_imp
from vidsteal.attacks.greybox.stage import run_stage

__all__ = [
    "STAGES", "AnsweredClips", "FinetuneConfig", "GreyboxAttack", "GreyboxConfig", "GreyboxData", "GreyboxDatasets",
    "LotteryConfig", "aux_kd", "finetune", "finetune_loss", "labeled_training_set", "load_aux", "load_greybox_data",
    "load_labeled", "make_trainer", "resolve_stages", "run_imp", "run_stage",
]
