"""Helper for the kill-and-resume test: a deterministic attack-like query loop against a logged victim.

Run as ``python logged_query_loop.py WEIGHTS LEDGER OUT [--delay S] [--die-before-commit N]``. Batch ``i`` is
always the same clips (one seeded generator, advanced identically on every run), so re-running the same command
resumes: batches already in the log are answered from it. At the end, every answer the loop received is
written to OUT and ``{"paid": ..., "hits": ...}`` is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time

import torch
from safetensors.torch import save_file

from vidsteal.victims import LocalOracle, LoggedOracle

BATCHES, BATCH, SHAPE = 40, 8, (3, 4, 16, 16)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("weights")
    parser.add_argument("ledger")
    parser.add_argument("out")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to sleep after each batch")
    parser.add_argument("--die-before-commit", type=int, default=0,
                        help="SIGKILL this process after the N-th shard is on disk but before its rows commit")
    args = parser.parse_args()
    torch.set_num_threads(1)  # same arithmetic in every run, and no oversubscription of the 2-core CI box

    oracle = LoggedOracle(LocalOracle.from_file(args.weights), args.ledger)
    if args.die_before_commit:
        commit, shards = oracle.ledger._commit, [0]

        def commit_or_die(*a, **kw):
            shards[0] += 1
            if shards[0] == args.die_before_commit:
                os.kill(os.getpid(), signal.SIGKILL)
            return commit(*a, **kw)

        oracle.ledger._commit = commit_or_die  # type: ignore[method-assign]

    generator = torch.Generator().manual_seed(1234)
    labels, probs = [], []
    for _ in range(BATCHES):
        answers = oracle.query(torch.rand((BATCH, *SHAPE), generator=generator))
        labels.append(answers.labels)
        probs.append(answers.probs)
        time.sleep(args.delay)
    save_file({"labels": torch.cat(labels), "probs": torch.cat(probs)}, args.out)
    print(json.dumps({"paid": oracle.paid, "hits": oracle.hits}))


if __name__ == "__main__":
    main()
