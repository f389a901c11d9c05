"""Subprocess for the kill test: one tiny ``train_supervised`` run in the folder given as argv[1].

With ``--pause-in-metrics``, the write of ``metrics.json`` stops after half of its bytes (the real
:func:`vidsteal.runs.atomic_write` around it, only ``open`` in that module wrapped), prints ``PAUSED`` and sleeps
until the test kills it. Otherwise it prints the result as one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

import torch

import vidsteal.runs
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.train.loop import OptimConfig
from vidsteal.train.supervised import SupervisedConfig, train_supervised

CFG = SupervisedConfig(arch="test_c3d", train_size=48, test_size=24, optim=OptimConfig(epochs=2, batch_size=16),
                       benchmark=BenchmarkConfig(shapes=("square", "triangle"), motions=("right", "left", "cw"),
                                                 frames=4, size=16))


class _HalfThenHang:
    def __init__(self, handle):
        self.handle = handle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()

    def write(self, data: bytes) -> int:
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        print("PAUSED", flush=True)
        time.sleep(600)  # killed here, mid-file
        raise AssertionError("not killed")


def _pausing_open(path, mode="r", *args, **kwargs):
    handle = open(path, mode, *args, **kwargs)
    return _HalfThenHang(handle) if ".metrics.json." in str(path) and "w" in mode else handle


if __name__ == "__main__":
    torch.set_num_threads(1)
    if "--pause-in-metrics" in sys.argv:
        vidsteal.runs.open = _pausing_open  # module globals shadow the builtin inside vidsteal.runs only
    result = train_supervised(CFG, sys.argv[1])
    print(json.dumps({k: result[k] for k in ("top1", "top5", "per_class_top1", "history")}))
