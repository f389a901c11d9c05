"""What each audited method is run with: the user's overrides, and the data-free students' val-chosen temperature."""

from __future__ import annotations

from vidsteal.pipeline.audit import AuditConfig, _temperature_notes, audit_attack
from vidsteal.victims import OutputMode


def _temperatures(**cfg) -> dict[str, float | None]:
    audit = AuditConfig(victim="victim.ts", **cfg)
    return {m: (audit_attack(audit, m).get("distill") or {}).get("temperature")
            for m in ("embeddings", "prior", "noise", "dfme", "reference")}


def test_the_data_free_students_take_the_val_chosen_temperature_up_to_30k_queries_of_probabilities():
    assert _temperatures(budget=20_000) == {"embeddings": 8.0, "prior": 8.0, "noise": 8.0, "dfme": None,
                                            "reference": None}
    assert _temperatures(budget=30_000)["embeddings"] == 8.0
    assert set(_temperatures(budget=30_001).values()) == {None}  # above 30k the 3D student lost 8 points at 8
    for kind in ("topk_probs", "label"):  # measured on probabilities only
        assert set(_temperatures(budget=10_000, output_mode=OutputMode(kind=kind)).values()) == {None}


def test_the_user_chooses_the_temperature_and_keeps_every_other_override():
    assert _temperatures(budget=10_000, temperature=2.0) == {"embeddings": 2.0, "prior": 2.0, "noise": 2.0,
                                                             "dfme": None, "reference": None}
    assert set(_temperatures(budget=10_000, temperature=1.0).values()) == {None}  # 1: the config's own default
    audit = AuditConfig(victim="victim.ts", budget=10_000, blackbox={"distill": {"temperature": 3.0, "lr": 1e-3}})
    assert audit_attack(audit, "embeddings")["distill"] == {"temperature": 3.0, "lr": 1e-3}  # blackbox wins
    assert audit_attack(audit, "dfme")["distill"] == {"temperature": 3.0, "lr": 1e-3}  # as the user wrote it
    assert audit_attack(audit, "noise") | {"distill": None} == {"distill": None, "budget": 10_000, "seed": 0}


def test_an_audit_saved_before_the_field_reads_as_the_temperature_it_ran_at():
    saved = AuditConfig(victim="victim.ts").to_dict()
    saved.pop("temperature")  # a run folder written before the field existed
    assert AuditConfig.model_validate(saved).temperature == 1.0  # so it never passes for today's rule
    assert AuditConfig(victim="victim.ts").temperature is None  # what users write keeps today's default


def test_the_report_says_which_students_learnt_at_another_temperature():
    notes = _temperature_notes(AuditConfig(victim="victim.ts", budget=10_000))
    assert len(notes) == 3 and "noise" in notes[0] and "embeddings" in notes[1] and "val-chosen" in notes[0]
    assert "prior" in notes[2]
    assert "val-chosen" not in _temperature_notes(AuditConfig(victim="victim.ts", budget=10_000, temperature=4))[0]
    assert _temperature_notes(AuditConfig(victim="victim.ts", budget=50_000)) == []
