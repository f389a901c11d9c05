"""Every method spends its budget exactly and never more, counted at the oracle (estimation probes included)."""

from __future__ import annotations

import pytest

from vidsteal.pipeline.blackbox import run_blackbox


@pytest.mark.parametrize("method,extra", [
    ("noise", {}),
    ("noise", {"render": "motion", "mixup": 0.5}),
    ("dfme", {}),
    ("embeddings", {}),
    ("embeddings", {"search": {"mode": "gradient", "grad_clips": 2}}),
    ("embeddings", {"prior": {"generator": "test_dcgan", "clips_per_image": 4, "precision": "bf16"}}),
    ("embeddings", {"pool": {"select": "disagreement", "mix": {"boundary": 1.0}}, "motion": {"static": True}}),
    ("embeddings", {"pool": {"select": "none"}}),  # the default is rare: pay for every clip rendered too
    ("embeddings", {"pool": {"mixup": 0.5}}),
])
def test_budget_is_spent_exactly(make_job, tmp_path, method, extra):
    budget = 157  # odd on purpose: no attack batch divides it
    out = run_blackbox(make_job(method, budget, **extra), tmp_path / "run")
    m = out["metrics"]
    assert m["queries"] == budget == m["paid"] + m["white_box"]
    assert m["ledger"]["paid"] == m["paid"] <= budget  # what the victim was actually paid for
    assert m["buffer"] == m["paid"]  # every paid answer is in the replay buffer
    assert [p["queries"] for p in out["curve"]] == sorted(p["queries"] for p in out["curve"])
    assert out["curve"][-1]["queries"] == budget
    assert (tmp_path / "run" / "curve.csv").exists() and list((tmp_path / "run" / "samples").glob("*.png"))


def test_gradient_mode_charges_white_box_calls(make_job, tmp_path):
    out = run_blackbox(make_job("embeddings", 120, search={"mode": "gradient", "grad_clips": 2}), tmp_path / "r")
    m = out["metrics"]
    assert m["white_box"] == m["search"]["search_queries"] > 0
    assert m["paid"] == 120 - m["white_box"]



def test_swin_victim_to_vit_student_path(tmp_path, make_job, victim_path):
    """Pair 2 in miniature: a Video Swin victim, a per-frame ViT student, training on frame subsets."""
    import torch

    from vidsteal.models import create_model, read_card, save_model

    torch.manual_seed(0)
    victim = create_model("test_swin3d", num_classes=6)
    card = victim.card.model_copy(update={"frames": 4, "size": 16, "dataset": read_card(victim_path).dataset})
    path = save_model(victim, tmp_path / "swin.safetensors", card)
    job = make_job("embeddings", 96, distill={"train_frames": 2, "eval_every": 100, "final_epochs": 0.5,
                                               "batch_size": 32})
    job = job.model_copy(update={"victim": str(path), "student": "test_frame_vit",
                                 "student_kwargs": {"img_size": 16}})
    m = run_blackbox(job, tmp_path / "run")["metrics"]
    assert m["queries"] == m["paid"] == 96 and m["student"] == "test_frame_vit"


def test_rare_selection_queries_the_clips_the_student_expects_in_the_victims_rarest_classes():
    import torch

    from vidsteal.attacks.blackbox.pool import rare_first

    answered = torch.tensor([900.0, 10.0, 0.0])  # the victim files almost everything under class 0
    probs = torch.tensor([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.05, 0.05, 0.9], [0.6, 0.3, 0.1]])
    assert rare_first(probs, answered, 2).tolist() == [2, 1]
    assert rare_first(probs, torch.zeros(3), 4).numel() == 4  # nothing answered yet: every candidate ties


@pytest.mark.parametrize("train_frames,score_frames,scored", [(1, "train", 1), (1, "all", None), (None, "train", None),
                                                               (1, 2, 2)])
def test_query_selection_scores_candidates_on_the_frames_the_student_trains_on(
        make_job, tmp_path, monkeypatch, train_frames, score_frames, scored):
    from vidsteal.attacks.blackbox.online import OnlineStudent

    asked, probs = [], OnlineStudent.probs

    def spy(self, clips, batch_size=64, frames=None, mixed=False):
        asked.append((frames, mixed))
        return probs(self, clips, batch_size, frames, mixed)

    monkeypatch.setattr(OnlineStudent, "probs", spy)
    job = make_job("embeddings", 120, pool={"select": "rare", "score_frames": score_frames},
                   distill={"train_frames": train_frames})
    assert run_blackbox(job, tmp_path / "run")["metrics"]["paid"] == 120
    assert asked and set(asked) == {(scored, True)}  # ranked in the training precision


def test_a_student_scores_evenly_spaced_frames_when_asked_for_fewer_than_the_clip_has():
    import torch

    from vidsteal.attacks.blackbox.online import OnlineDistillConfig, OnlineStudent
    from vidsteal.models import create_model

    torch.manual_seed(0)
    learner = OnlineStudent(create_model("test_frame_cnn", 5), OnlineDistillConfig(), "kd", 0)
    clips = torch.rand(4, 3, 8, 16, 16)
    assert torch.allclose(learner.probs(clips, frames=1), learner.probs(clips[:, :, [4]]))
    assert torch.allclose(learner.probs(clips, frames=2), learner.probs(clips[:, :, [2, 6]]))
    assert torch.equal(learner.probs(clips, frames=8), learner.probs(clips))


def test_embedding_configs_saved_before_score_frames_resume_scoring_every_frame():
    from vidsteal.attacks.blackbox.pool import PoolConfig

    saved = PoolConfig().model_dump(mode="json")
    saved.pop("score_frames")  # a run folder written before the field existed
    assert PoolConfig.model_validate(saved).score_frames == "all"
    assert PoolConfig.model_validate({"batch": 64}).score_frames == "train"


def test_the_shipped_embeddings_config_is_valid_and_keeps_the_demos_schedule_but_the_long_final_phase():
    from pathlib import Path

    import yaml

    from vidsteal.attacks.blackbox.embeddings import EmbeddingConfig
    from vidsteal.attacks.blackbox.online import OnlineDistillConfig
    from vidsteal.pipeline.study import StudyConfig

    path = Path(__file__).resolve().parents[2] / "configs" / "blackbox_embeddings.yaml"
    cfg = EmbeddingConfig.model_validate(yaml.safe_load(path.read_text()))
    demo = StudyConfig().blackbox_attack["distill"]
    own = ("eval_every", "final_epochs")  # the demo's final phase is cut short for its time limit
    assert {k: getattr(cfg.distill, k) for k in demo if k not in own} == {
        k: v for k, v in demo.items() if k not in own}
    assert cfg.distill.final_epochs == OnlineDistillConfig().final_epochs > demo["final_epochs"]
