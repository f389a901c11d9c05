"""Independent resumable stages side by side in worker processes, their progress drawn by the caller.

Every stage of a study (training a victim, one attack run) writes its own run folder and returns a finished folder
as is. So a study can first run its stages in a pool and then walk its usual sequential path, which finds each one
done and only collects. On a CPU, two single-threaded processes keep two cores busier than one process whose
small convolutions wait on two threads at every op. Workers are spawned (fresh interpreters, no forked torch thread
pools), share the caller's torch threads between them, and send their progress reports back through a managed
queue (its ``put`` returns once delivered, so no report is lost when a task ends).
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable

import torch

from vidsteal.attacks.base import Progress

Task = tuple[str, Callable[..., Any], tuple]  # (label for its progress bars, module-level function, arguments)

_queue: Any = None  # the worker's end of the progress queue, set by _start


def _start(threads: int, progress_queue: Any) -> None:
    global _queue
    torch.set_num_threads(threads)
    _queue = progress_queue


def _call(label: str, fn: Callable[..., Any], args: tuple) -> Any:
    def report(stage: str, done: int, total: int | None) -> None:
        _queue.put((f"{label}: {stage}", done, total))

    return fn(*args, progress=report)


def _drain(progress_queue: Any, progress: Progress | None) -> None:
    while True:
        try:
            stage, done, total = progress_queue.get_nowait()
        except queue.Empty:
            return
        if progress is not None:
            progress(stage, done, total)


def run_tasks(tasks: list[Task], workers: int, progress: Progress | None = None) -> list[Any]:
    """Run ``fn(*args, progress=...)`` for every task in ``workers`` processes; results in the tasks' order.

    Tasks start in the order given (put the longest first). The first task that fails cancels those not started
    and its error is raised here; tasks already running finish, and what they wrote stays in their run folders.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    threads = max(1, torch.get_num_threads() // workers)
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        progress_queue = manager.Queue()
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_start,
                                 initargs=(threads, progress_queue)) as pool:
            return _wait_all(pool, tasks, progress_queue, progress)


def _wait_all(pool: ProcessPoolExecutor, tasks: list[Task], progress_queue: Any,
              progress: Progress | None) -> list[Any]:
    """Submit every task, draw their progress while they run, raise the first error (cancelling the rest)."""
    futures = [pool.submit(_call, label, fn, args) for label, fn, args in tasks]
    pending: set[Future] = set(futures)
    try:
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(progress_queue, progress)
            for future in done:
                future.result()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        _drain(progress_queue, progress)
    return [future.result() for future in futures]
