"""Budgets are exact under concurrency (never over-spent, fully spendable), rate limits answer 429 + Retry-After
and clients honour it, and the budget/limit primitives behave on their own."""

from __future__ import annotations

import json
import random
import threading
import time

import httpx
import pytest
from serve_support import ALICE, BOB, clips, encoded

from vidsteal.serve.limits import BudgetBook, BudgetExhausted, TokenBucket
from vidsteal.victims.budget import BudgetExceeded
from vidsteal.victims.http import HttpOracle
from vidsteal.victims.oip import OipOracle



def test_budget_book_reserve_commit_refund():
    book = BudgetBook()
    book.open("k", 5)
    assert book.reserve("k", 3, partial=False) == 3
    with pytest.raises(BudgetExhausted, match="2 of 5 left"):
        book.reserve("k", 3, partial=False)  # all-or-nothing refuses what does not fit...
    assert book.reserve("k", 3, partial=True) == 2  # ...the prefix rule takes what fits
    book.refund("k", 2)
    book.commit("k", 3)
    assert book.usage("k") == {"budget": 5, "spent": 3, "left": 2}
    book.open("free", None)
    assert book.reserve("free", 10**6, partial=False) == 10**6


def test_token_bucket_refills_at_rate():
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=2, clock=lambda: now[0])
    assert bucket.take() == 0 and bucket.take() == 0
    assert bucket.take() == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.take() == 0


def test_budget_exact_under_32_concurrent_clients(serve, keys_file, tmp_path):
    budget = 150
    server = serve(keys_path=keys_file(alice={"budget": budget}, bob={}), log_dir=tmp_path / "log")
    x = clips(3)
    answered, statuses, lock = [], [], threading.Lock()

    def client(i: int) -> None:
        rng = random.Random(i)
        with httpx.Client(base_url=server.url, headers={"X-API-Key": ALICE}, timeout=60) as http:
            while True:
                n = rng.randint(1, 3)
                if i % 2:  # half the clients speak OIP v2 (all-or-nothing), half /v1 (prefix rule)
                    body = {"inputs": [{"name": "clips", "shape": [n, 3, 4, 16, 16], "datatype": "FP32",
                                        "data": x[:n].flatten().tolist()}]}
                    resp = http.post("/v2/models/victim/infer", json=body)
                    got = resp.json()["outputs"][0]["shape"][0] if resp.status_code == 200 else 0
                else:
                    resp = http.post("/v1/query", json=encoded(x[:n]))
                    got = resp.json()["answered"] if resp.status_code == 200 else 0
                with lock:
                    answered.append(got)
                    statuses.append(resp.status_code)
                if resp.status_code != 200:
                    return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert set(statuses) == {200, 402}
    assert sum(answered) == budget  # never more; and the /v1 prefix rule lets the last queries be spent
    usage = httpx.get(server.url + "/v1/usage", headers={"X-API-Key": ALICE}).json()
    assert usage == {"budget": budget, "spent": budget, "left": 0}
    logged = [json.loads(line)["n"] for line in (tmp_path / "log" / "alice.jsonl").read_text().splitlines()]
    assert sum(logged) == budget
    # Another key is unaffected.
    assert httpx.post(server.url + "/v1/query", json=encoded(x), headers={"X-API-Key": BOB}).status_code == 200


def test_exhausted_budget_is_402_with_what_is_left(serve, keys_file):
    server = serve(keys_path=keys_file(alice={"budget": 2}))
    headers = {"X-API-Key": ALICE}
    body = {"inputs": [{"name": "clips", "shape": [3, 3, 4, 16, 16], "datatype": "FP32",
                        "data": clips(3).flatten().tolist()}]}
    resp = httpx.post(server.url + "/v2/models/victim/infer", json=body, headers=headers)
    assert resp.status_code == 402 and resp.json()["budget_left"] == 2 and "3 clips requested" in resp.json()["error"]
    partial = httpx.post(server.url + "/v1/query", json=encoded(clips(3)), headers=headers).json()
    assert (partial["requested"], partial["answered"], partial["usage"]["left"]) == (3, 2, 0)
    again = httpx.post(server.url + "/v1/query", json=encoded(clips(1)), headers=headers)
    assert again.status_code == 402 and "exhausted" in again.json()["error"]


@pytest.mark.parametrize("concurrency", [1, 3])
def test_http_oracle_raises_budget_exceeded_keeping_paid_answers(serve, keys_file, concurrency):
    server = serve(keys_path=keys_file(alice={"budget": 10}))
    oracle = HttpOracle(server.url, ALICE, batch_size=4, max_concurrency=concurrency, retries=0)
    with pytest.raises(BudgetExceeded) as err:
        oracle.query(clips(16))
    e = err.value
    beyond = sum(len(a) for _, a in e.paid_beyond_prefix)
    assert e.answered + beyond == 10 and (e.limit, e.spent, e.requested) == (10, 10, 16)
    assert e.answers is None or len(e.answers) == e.answered
    assert oracle.queries == 10


def test_oip_oracle_raises_budget_exceeded(serve, keys_file):
    server = serve(keys_path=keys_file(alice={"budget": 5}))
    oracle = OipOracle(server.url, "victim", ALICE, batch_size=4, max_concurrency=1, retries=0)
    with pytest.raises(BudgetExceeded) as err:
        oracle.query(clips(8))
    assert err.value.answered == 4 and len(err.value.answers) == 4
    assert (err.value.limit, err.value.spent) == (5, 4)


def test_rate_limit_429_with_retry_after_and_clients_wait(serve, keys_file):
    # A slow refill (1 token/s) keeps the test meaningful on a loaded machine, where requests take ~100s of ms.
    server = serve(keys_path=keys_file(alice={"rate": 1.0, "burst": 2}))
    headers = {"X-API-Key": ALICE}
    codes = [httpx.post(server.url + "/v1/query", json=encoded(clips(1)), headers=headers) for _ in range(3)]
    assert [c.status_code for c in codes[:2]] == [200, 200]
    limited = codes[2]
    assert limited.status_code == 429 and "rate limit" in limited.json()["error"]
    assert int(limited.headers["Retry-After"]) >= 1 and 0 < limited.json()["retry_after_s"] <= 1.0
    # The client honours the precise hint and gets every answer, paced by the server (about 1 clip/s).
    oracle = HttpOracle(server.url, ALICE, batch_size=1, max_concurrency=2, retries=20, backoff=0.01)
    start = time.monotonic()
    answers = oracle.query(clips(3))
    assert len(answers) == 3 and time.monotonic() - start >= 1.5
