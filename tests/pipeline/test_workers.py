import os
import time

import pytest

from vidsteal.pipeline.workers import run_tasks


def square(x, progress=None):
    progress("step", 1, 2)
    progress("step", 2, 2)
    return x * x, os.getpid()


def fail_or_mark(x, folder, progress=None):
    if x == 0:
        raise ValueError("stage 0 broke")
    time.sleep(0.2)
    (folder / str(x)).touch()
    return x


def test_results_come_back_in_task_order_from_other_processes_with_their_progress_labelled():
    seen = []
    out = run_tasks([(f"task {x}", square, (x,)) for x in range(4)], workers=2,
                    progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert [value for value, _ in out] == [0, 1, 4, 9]
    assert os.getpid() not in {pid for _, pid in out}
    assert sorted(seen) == sorted((f"task {x}: step", d, 2) for x in range(4) for d in (1, 2))


def test_a_failing_task_raises_its_error_here_and_later_tasks_do_not_start(tmp_path):
    with pytest.raises(ValueError, match="stage 0 broke"):
        run_tasks([(f"t{x}", fail_or_mark, (x, tmp_path)) for x in range(40)], workers=1)
    assert len(list(tmp_path.iterdir())) <= 3  # at most the calls already handed to the worker ran


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers"):
        run_tasks([], workers=0)
