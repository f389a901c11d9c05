"""The aux KD stage against a plain soft-label KD loop written here: same student, clips, answers, seed, epochs.

The teacher is a fixed function of a clip's colour over time (first-half and second-half channel means through a
random linear map), so a small 3D student can learn it from a few hundred clips and held-out agreement says how
well each recipe distilled it. The stage (with the grey-box attack's shipped KD recipe) must not be worse than the
reference by more than noise; both must be far above the teacher's majority class. Measured with this file's
sizes (agreement on the 256 held-out clips, seeds 0 / 1 / 2): reference 0.816 / 0.836 / 0.824; the stage with the
earlier recipe (T = 2, peak lr 3e-3) 0.707 / 0.812 / 0.805, which this test fails on seed 0; with the shipped
recipe (T = 1, 6e-3) 0.832 / 0.816 / 0.812.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidsteal.attacks.greybox import GreyboxConfig, aux_kd
from vidsteal.data.clips import to_model_input
from vidsteal.data.embedded import make_auxiliary
from vidsteal.eval.metrics import agreement
from vidsteal.models import create_model
from vidsteal.victims.local import LocalOracle

CLASSES, EPOCHS, BATCH = 6, 8, 32


class ColourTimeTeacher(nn.Module):
    """(B, C, T, H, W) in [0, 1] -> logits: a random linear map of standardised early / late channel means."""

    def __init__(self, clips: torch.Tensor) -> None:
        super().__init__()
        feats = self.features(to_model_input(clips))
        self.register_buffer("mu", feats.mean(0))
        self.register_buffer("sd", feats.std(0) + 1e-6)
        self.register_buffer("w", torch.randn(feats.shape[1], CLASSES, generator=torch.Generator().manual_seed(3)))

    @staticmethod
    def features(x: torch.Tensor) -> torch.Tensor:
        half = x.shape[2] // 2
        return torch.cat([x[:, :, :half].mean((2, 3, 4)), x[:, :, half:].mean((2, 3, 4))], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * ((self.features(x) - self.mu) / self.sd) @ self.w


def reference_kd(student: nn.Module, clips: torch.Tensor, probs: torch.Tensor, seed: int) -> None:
    """Plain soft-label KD: Adam, constant learning rate, cross-entropy to the victim's probabilities, T = 1."""
    opt = torch.optim.Adam(student.parameters(), lr=3e-3)
    student.train()
    for epoch in range(EPOCHS):
        torch.manual_seed(seed * 1000 + epoch)
        for idx in torch.randperm(len(clips)).split(BATCH):
            logits = student(to_model_input(clips[idx]))
            loss = -(probs[idx] * F.log_softmax(logits, 1)).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    student.eval()


def held_out_agreement(student: nn.Module, clips: torch.Tensor, teacher_logits: torch.Tensor) -> float:
    with torch.no_grad():
        return agreement(student.eval()(to_model_input(clips)), teacher_logits)


@pytest.mark.timeout(600)  # ~30 s on an idle 2-core box; the shared one runs far slower
def test_aux_kd_stage_is_no_worse_than_plain_soft_label_kd(tiny_bench, tmp_path, seed=0):
    aux = make_auxiliary(tiny_bench, 384, seed=10 + seed)
    held_out = make_auxiliary(tiny_bench, 256, seed=99).clips
    teacher = ColourTimeTeacher(aux.clips).eval()
    oracle = LocalOracle(teacher, num_classes=CLASSES)
    with torch.no_grad():
        teacher_logits = teacher(to_model_input(held_out))
        probs = teacher(to_model_input(aux.clips)).softmax(1)
    majority = teacher_logits.argmax(1).bincount(minlength=CLASSES).max().item() / len(held_out)

    torch.manual_seed(seed)
    reference = create_model("test_c3d", num_classes=CLASSES)
    reference_kd(reference, aux.clips, probs, seed)

    torch.manual_seed(seed)
    student = create_model("test_c3d", num_classes=CLASSES)
    default = GreyboxConfig().kd  # the shipped recipe, with the reference's epochs and batch
    cfg = default.model_copy(update={"optim": default.optim.model_copy(update={"epochs": EPOCHS, "batch_size": BATCH})})
    metrics = aux_kd(oracle, student, aux, cfg, tmp_path / "kd", measure=lambda m: {}, seed=seed)

    ref, stage = held_out_agreement(reference, held_out, teacher_logits), held_out_agreement(student, held_out,
                                                                                              teacher_logits)
    assert metrics["answered"] == len(aux) and oracle.queries == len(aux)
    assert majority < 0.5 and ref > majority + 0.25, (majority, ref)  # the reference clearly learnt the teacher
    assert stage >= ref - 0.05, (stage, ref)


def test_batchnorm_statistics_are_re_estimated_on_the_victim_domain_clips(tiny_bench, tmp_path):
    from vidsteal.data.embedded import make_split

    aux, domain = make_auxiliary(tiny_bench, 64, seed=0), make_split(tiny_bench, "train", 48, 0)
    teacher = ColourTimeTeacher(aux.clips).eval()
    cfg = GreyboxConfig().kd.model_copy(update={"optim": GreyboxConfig().kd.optim.model_copy(update={"epochs": 1})})
    student = create_model("test_c3d", num_classes=CLASSES)
    metrics = aux_kd(LocalOracle(teacher, num_classes=CLASSES), student, aux, cfg, tmp_path / "kd",
                     measure=lambda m: {}, calibrate=domain)
    conv, bn = student.features[0][0], student.features[0][1]
    with torch.no_grad():
        first = conv(student.norm(to_model_input(domain.clips)))
    assert metrics["bn_calibrated"] and bn.momentum == 0.1  # momentum restored after the cumulative average
    torch.testing.assert_close(bn.running_mean, first.mean((0, 2, 3, 4)), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bn.running_var, first.var((0, 2, 3, 4)), rtol=1e-3, atol=1e-5)
