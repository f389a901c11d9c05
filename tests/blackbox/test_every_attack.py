"""Every registered attack, through its pipeline, at a tiny size: the queries it reports are the ledger's rows,
and its run folder ends with a finished ``metrics.json``. A newly registered attack fails here until it is added."""

from __future__ import annotations

import pytest

from vidsteal import runs
from vidsteal.attacks import list_attacks
from vidsteal.pipeline.blackbox import run_blackbox
from vidsteal.pipeline.greybox import GreyboxRun, run_greybox, with_victim_benchmark
from vidsteal.victims import QueryLedger

QUICK = {"epochs": 1, "batch_size": 16}
GREYBOX = {"budget": 60, "stages": ["kd", "finetune", "lottery", "scratch"],
           "data": {"aux_size": 30, "labeled_pool": 60, "labeled_fraction": 0.2},
           "kd": {"optim": QUICK}, "finetune": {"optim": QUICK, "victim_answers": True}, "scratch": QUICK,
           "lottery": {"target_sparsity": 0.3}}


def _run(name: str, make_job, victim_path, root):
    """(queries the run reports, its run folder)."""
    if name == "greybox":
        cfg = with_victim_benchmark(GreyboxRun(victim=str(victim_path), student="test_frame_cnn", test_size=24,
                                               attack=GREYBOX))
        return run_greybox(cfg, root).queries, cfg.run_dir(root)
    out = run_blackbox(make_job(name, 96), root / name)  # KeyError for an attack without a tiny config in FAST
    assert out["queries"] == out["metrics"]["ledger"]["paid"]
    return out["queries"], root / name


@pytest.mark.parametrize("name", list_attacks())
def test_every_registered_attack_pays_what_its_ledger_holds_and_finishes(name, make_job, victim_path, tmp_path):
    queries, run_dir = _run(name, make_job, victim_path, tmp_path)
    with QueryLedger(run_dir / "queries") as ledger:
        assert 0 < queries == len(ledger)
        assert ledger.clip_format == "uint8"  # every attack pays 8-bit clips, as a video API receives them
    done = runs.finished(run_dir)
    assert done is not None and done["queries"] == queries and done["metrics"]
    assert (run_dir / runs.CONFIG).exists()


def test_a_run_does_not_depend_on_what_ran_before_it_in_the_process(make_job, victim_path, tmp_path):
    """The student's dropout draws from the global RNG: a run seeds it, so the same job trains the same student
    whatever the process did before (a defence matrix or a demo runs many cells in one process)."""
    import torch
    from safetensors.torch import load_file

    job = make_job("noise", 96).model_copy(update={"student": "test_c3d"})  # a student with dropout
    torch.manual_seed(1)
    run_blackbox(job, tmp_path / "a")
    torch.rand(1000)  # the process moves on
    run_blackbox(job, tmp_path / "b")
    a, b = load_file(tmp_path / "a" / "student.safetensors"), load_file(tmp_path / "b" / "student.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
