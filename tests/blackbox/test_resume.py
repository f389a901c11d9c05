"""A killed run resumes from its checkpoint and the query log: nothing is paid twice, the curve continues."""

from __future__ import annotations

import json

import pytest

from vidsteal.pipeline.blackbox import run_blackbox


class Killed(Exception):
    pass


def _kill_after(limit: int):
    def report(stage: str, done: int, total: int | None) -> None:
        if stage == "queries" and done >= limit:
            raise Killed(done)

    return report


@pytest.mark.parametrize("method", ["embeddings", "dfme"])
def test_resume_continues_the_curve(make_job, tmp_path, method):
    job = make_job(method, 400)
    with pytest.raises(Killed):  # dies after a checkpoint (every 100 queries) and between two of them
        run_blackbox(job, tmp_path / "run", progress=_kill_after(250))
    before = sorted((tmp_path / "run" / "state").glob("ckpt_*"))
    assert before, "a checkpoint was written before the kill"
    resumed = run_blackbox(job, tmp_path / "run")
    m = resumed["metrics"]
    assert m["queries"] == 400 and m["ledger"]["paid"] == 400  # the budget holds across the kill
    assert m["ledger"]["hits"] > 0  # clips paid after the checkpoint were re-made exactly and answered from the log
    queries = [p["queries"] for p in resumed["curve"]]
    assert queries == sorted(queries) and queries[0] <= 200 and queries[-1] == 400
    fresh = run_blackbox(job, tmp_path / "fresh")  # the uninterrupted run pays for exactly the same clips
    assert [p["queries"] for p in fresh["curve"]] == queries
    assert fresh["metrics"]["ledger"]["paid"] == 400


@pytest.mark.parametrize("method", ["embeddings", "noise"])
def test_a_resumed_run_trains_the_same_student_as_an_uninterrupted_one(make_job, tmp_path, method):
    """Bit for bit, with a dropout student: the query log re-answers the clips, the checkpoint restores the student
    and its sampler, and the student's dropout is seeded per step."""
    import torch
    from safetensors.torch import load_file

    job = make_job(method, 300).model_copy(update={"student": "test_c3d"})
    with pytest.raises(Killed):
        run_blackbox(job, tmp_path / "run", progress=_kill_after(250))
    torch.rand(1000)  # the process moves on before the resume
    resumed = run_blackbox(job, tmp_path / "run")
    fresh = run_blackbox(job, tmp_path / "fresh")
    a, b = load_file(tmp_path / "run" / "student.safetensors"), load_file(tmp_path / "fresh" / "student.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["metrics"]["top1"] == fresh["metrics"]["top1"]


def test_a_run_killed_in_its_final_phase_resumes_there_and_trains_the_same_student(make_job, tmp_path):
    """The final phase (10 epochs by default: the longest part of a run) is checkpointed every ``final_chunk``
    steps; a kill inside it loses at most that many steps, and the resumed student is the uninterrupted one."""
    import torch
    from safetensors.torch import load_file

    job = make_job("embeddings", 200, chunk=100, final_chunk=3, distill={"final_epochs": 2.0})  # 13 final steps
    finals: list[tuple[int, int | None]] = []

    def kill_in_final(stage: str, done: int, total: int | None) -> None:
        if stage == "final training":
            finals.append((done, total))
            if done >= 7:
                raise Killed(done)

    with pytest.raises(Killed):
        run_blackbox(job, tmp_path / "run", progress=kill_in_final)
    assert finals[0] == (0, 13) and finals[-1] == (9, 13)  # reported every min(final_chunk, 25) steps
    state = json.loads((tmp_path / "run" / "state" / "state.json").read_text())
    assert state["student"]["final"] == 6  # the last checkpoint inside the final phase
    finals.clear()

    def watch(stage: str, done: int, total: int | None) -> None:
        if stage == "final training":
            finals.append((done, total))

    resumed = run_blackbox(job, tmp_path / "run", progress=watch)
    assert finals[0] == (6, 13) and finals[-1] == (13, 13)  # resumed inside the phase, not from its start
    fresh = run_blackbox(job, tmp_path / "fresh")
    a, b = load_file(tmp_path / "run" / "student.safetensors"), load_file(tmp_path / "fresh" / "student.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["metrics"]["top1"] == fresh["metrics"]["top1"]
    assert resumed["metrics"]["ledger"]["paid"] == 200  # nothing paid twice


def test_finished_run_is_returned_as_is(make_job, tmp_path):
    job = make_job("noise", 100)
    first = run_blackbox(job, tmp_path / "run")
    assert run_blackbox(job, tmp_path / "run") == first


def test_a_run_folder_refuses_a_different_job(make_job, tmp_path):
    import pytest

    from vidsteal.pipeline.blackbox import run_blackbox

    first = run_blackbox(make_job("noise", 64), tmp_path / "run")
    assert run_blackbox(make_job("noise", 64), tmp_path / "run") == first  # the same job: its finished result
    with pytest.raises(ValueError, match="different black-box job"):
        run_blackbox(make_job("noise", 128), tmp_path / "run")


def test_the_pool_mutates_elites_and_a_killed_run_resumes_with_its_archive(make_job, tmp_path):
    import torch
    from safetensors.torch import load_file

    job = make_job("embeddings", 300, pool={"mix": {"class": 0.5, "elite": 0.5}}).model_copy(
        update={"student": "test_c3d"})
    with pytest.raises(Killed):
        run_blackbox(job, tmp_path / "run", progress=_kill_after(250))
    ckpt = sorted((tmp_path / "run" / "state").glob("ckpt_*"))[-1]
    saved = load_file(ckpt / "tensors.safetensors")
    assert torch.isfinite(saved["attack.elites.score"]).all()  # every class's archive was filled by the paid clips
    resumed = run_blackbox(job, tmp_path / "run")
    fresh = run_blackbox(job, tmp_path / "fresh")
    a, b = load_file(tmp_path / "run" / "student.safetensors"), load_file(tmp_path / "fresh" / "student.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    elites = fresh["metrics"]["elites"]
    assert resumed["metrics"]["elites"] == elites and 0 < elites["median"] <= elites["best"] <= 1


def test_a_run_killed_in_its_probe_resumes_there_and_trains_the_same_student(make_job, tmp_path):
    import torch
    from safetensors.torch import load_file

    job = make_job("embeddings", 300, search={"probe": 0.9}).model_copy(update={"student": "test_c3d"})
    with pytest.raises(Killed):  # the probe pays the first 270 queries: killed inside it, after a checkpoint
        run_blackbox(job, tmp_path / "run", progress=_kill_after(250))
    resumed = run_blackbox(job, tmp_path / "run")
    fresh = run_blackbox(job, tmp_path / "fresh")
    a, b = load_file(tmp_path / "run" / "student.safetensors"), load_file(tmp_path / "fresh" / "student.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["metrics"]["search"] == fresh["metrics"]["search"]
