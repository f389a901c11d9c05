"""Remote oracles: the same KD loop gives the same losses locally, over /v1 and over OIP v2; retries, backoff and
error reporting of the HTTP clients against a scripted transport."""

from __future__ import annotations

import base64
import json
import time

import httpx
import numpy as np
import pytest
import torch
from serve_support import ALICE, CLASSES, clips, distill

from vidsteal.victims.base import OracleError
from vidsteal.victims.hashes import clip_hashes
from vidsteal.victims.http import HttpOracle, RemoteError
from vidsteal.victims.local import LocalOracle
from vidsteal.victims.logged import LoggedOracle
from vidsteal.victims.oip import OipOracle
from vidsteal.victims.outputs import OutputMode

MODES = [OutputMode(), OutputMode(kind="topk_probs", k=3), OutputMode(kind="label")]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.kind.value)
def test_kd_loop_runs_unchanged_on_local_http_and_oip(serve, keys_file, victim_path, mode):
    server = serve(keys_path=keys_file(alice={}), output_mode=mode)
    local = distill(LocalOracle.from_file(victim_path, output_mode=mode))
    with HttpOracle(server.url, ALICE, mode, batch_size=4, max_concurrency=2) as http:
        over_http = distill(http)
        assert http.queries == 18
    with OipOracle(server.url, "victim", ALICE, batch_size=4, max_concurrency=2) as oip:
        assert oip.output_mode == mode  # learnt from the model metadata
        over_oip = distill(oip)
    assert over_http == pytest.approx(local, abs=1e-5)
    assert over_oip == pytest.approx(local, abs=1e-5)


def test_http_oracle_checks_the_served_output_mode(serve):
    server = serve(output_mode=OutputMode(kind="label"))
    with pytest.raises(OracleError, match="reveals"):
        HttpOracle(server.url, output_mode=OutputMode())
    assert HttpOracle(server.url).output_mode.kind.value == "label"


def test_http_oracle_reports_4xx_with_the_servers_message(serve, keys_file):
    server = serve(keys_path=keys_file(alice={}))
    with pytest.raises(OracleError, match="not recognised"):
        HttpOracle(server.url, "vs_wrong")
    oracle = HttpOracle(server.url, ALICE)
    with pytest.raises(RemoteError) as err:
        oracle.query(torch.rand(1, 3, 5, 16, 16))  # wrong clip length for this victim
    assert err.value.status == 422 and "frames T = 4" in err.value.message


def test_unreachable_server_fails_after_retries():
    with pytest.raises(OracleError, match="after 3 attempts"):
        HttpOracle("http://127.0.0.1:9", retries=2, backoff=0.01, timeout=1)


class Script:
    """A scripted victim for httpx.MockTransport: replies in order, records what it saw."""

    def __init__(self, *replies: object) -> None:
        self.replies = list(replies)
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/info":
            return httpx.Response(200, json={"num_classes": CLASSES, "output_mode": OutputMode().to_dict()})
        self.seen.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply  # type: ignore[return-value]


def _answer(n: int) -> httpx.Response:
    probs = torch.full((n, CLASSES), 1 / CLASSES)
    return httpx.Response(200, json={"output_mode": OutputMode().to_dict(), "labels": [[0]] * n,
                                     "probs": probs.tolist(), "usage": {"budget": None, "spent": n, "left": None}})


def _scripted(script: Script, **kw) -> HttpOracle:
    client = httpx.Client(base_url="http://victim.test", transport=httpx.MockTransport(script))
    return HttpOracle("http://victim.test", client=client, backoff=0.01, **kw)


def test_retries_timeouts_429_and_5xx_with_one_request_id():
    limited = httpx.Response(429, headers={"Retry-After": "1"}, json={"error": "slow down", "retry_after_s": 0.05})
    script = Script(httpx.ReadTimeout("slow"), httpx.Response(503, json={"error": "busy"}), limited, _answer(2))
    answers = _scripted(script, retries=3).query(clips(2))
    assert len(answers) == 2 and len(script.seen) == 4
    ids = {r.headers["X-Request-Id"] for r in script.seen}
    assert len(ids) == 1  # every retry replays the same id, so the server never charges twice


def test_retry_after_header_is_honoured_without_a_json_hint():
    script = Script(httpx.Response(429, headers={"Retry-After": "1"}, text="slow down"), _answer(1))
    oracle = _scripted(script, retries=1)
    start = time.monotonic()
    oracle.query(clips(1))
    assert time.monotonic() - start >= 0.95


def test_4xx_is_not_retried_and_gives_up_after_retries():
    script = Script(httpx.Response(422, json={"error": "clips must have 5 dims"}))
    with pytest.raises(RemoteError, match="clips must have 5 dims") as err:
        _scripted(script, retries=5).query(clips(1))
    assert err.value.status == 422 and len(script.seen) == 1
    script = Script(*[httpx.Response(500, text="boom")] * 3)
    with pytest.raises(RemoteError, match="after 3 attempts; last: HTTP 500: boom"):
        _scripted(script, retries=2).query(clips(1))


def test_failed_batch_keeps_the_answered_prefix():
    script = Script(_answer(2), httpx.Response(400, json={"error": "nope"}), _answer(2))
    oracle = _scripted(script, retries=0, batch_size=2, max_concurrency=1)
    with pytest.raises(RemoteError) as err:
        oracle.query(clips(6))
    assert err.value.answered == 2 and len(err.value.answers) == 2
    assert [off for off, _ in err.value.paid_beyond_prefix] == [4]
    assert oracle.queries == 4


def test_budget_exceeded_reports_what_requests_after_the_refusal_paid():
    """The race CI once hit with 3 concurrent requests, replayed in order: the server refused request 2 (spent 8 at
    that moment) while requests 3 and 4 were paid; the error must report the final count, 10, not the 8."""
    def paid(n: int, spent: int) -> httpx.Response:
        reply = _answer(n)
        body = json.loads(reply.content)
        body["usage"] = {"budget": 10, "spent": spent, "left": 10 - spent}
        return httpx.Response(200, json=body)

    refused = httpx.Response(402, json={"error": "query budget exhausted", "budget": 10, "spent": 8})
    script = Script(paid(4, 4), refused, paid(4, 8), paid(2, 10))
    oracle = _scripted(script, retries=0, batch_size=4, max_concurrency=1)
    with pytest.raises(OracleError) as err:
        oracle.query(clips(16))
    e = err.value
    assert (e.limit, e.spent, e.requested, e.answered) == (10, 10, 16, 4)
    assert sum(len(a) for _, a in e.paid_beyond_prefix) == 6 and oracle.queries == 10


def test_http_oracle_sends_exact_float32():
    seen = {}

    def capture(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/info":
            return httpx.Response(200, json={"num_classes": CLASSES, "output_mode": OutputMode().to_dict()})
        seen["body"] = json.loads(request.content)
        return _answer(2)

    client = httpx.Client(base_url="http://victim.test", transport=httpx.MockTransport(capture))
    x = clips(2)
    HttpOracle("http://victim.test", client=client).query(x)
    enc = seen["body"]["encoded"]
    sent = np.frombuffer(base64.b64decode(enc["data"]), dtype="<f4").reshape(enc["shape"])
    assert enc["dtype"] == "float32" and torch.equal(torch.from_numpy(sent.copy()), x)


def test_logged_http_oracle_never_pays_twice(serve, keys_file, tmp_path):
    server = serve(keys_path=keys_file(alice={"budget": 100}))
    x = clips(6)
    with LoggedOracle(HttpOracle(server.url, ALICE, batch_size=4), tmp_path / "ledger") as logged:
        first = logged.query(x)
    with LoggedOracle(HttpOracle(server.url, ALICE, batch_size=4), tmp_path / "ledger") as resumed:
        again = resumed.query(x)  # same clips after a "restart": answered from the ledger
        assert resumed.hits == 6
    assert torch.equal(first.labels, again.labels)
    assert httpx.get(server.url + "/v1/usage", headers={"X-API-Key": ALICE}).json()["spent"] == 6


def test_ledger_and_server_log_hash_a_paid_clip_alike(serve, keys_file, tmp_path):
    """The attacker's ledger and the victim's query log name each paid clip by the same hash, with the same answer."""
    server = serve(keys_path=keys_file(alice={}), log_dir=tmp_path / "server_log")
    x = torch.cat([clips(5), clips(1, seed=9)])  # float clips, not on the 8-bit grid: both sides hash the 8-bit form
    with LoggedOracle(HttpOracle(server.url, ALICE, batch_size=4), tmp_path / "ledger") as logged:
        logged.query(x)
        ledger_hashes = logged.ledger.hashes()
        ledger_labels = {h: labels for h, (labels, _) in logged.ledger.lookup(clip_hashes(x)).items()}
    served = {}
    for line in (tmp_path / "server_log" / "alice.jsonl").read_text().splitlines():
        record = json.loads(line)
        served.update(zip(record["inputs_sha256"], record["labels"]))
    assert len(ledger_hashes) == 6 and sorted(served) == sorted(ledger_hashes)
    assert ledger_hashes == [h.hex() for h in clip_hashes(x)]  # payment order = batch order
    assert all(served[h.hex()] == labels.tolist() for h, labels in ledger_labels.items())


def test_oip_oracle_on_a_generic_server_with_sparse_metadata():
    """A KServe-style server that lists no inputs/outputs and names its output 'output-0'."""
    probs = torch.softmax(torch.randn(3, CLASSES, generator=torch.Generator().manual_seed(0)), dim=1)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"name": "m", "platform": "", "inputs": [], "outputs": []})
        body = json.loads(request.content)
        assert body["inputs"][0]["name"] == "input-0" and body["inputs"][0]["datatype"] == "FP32"
        return httpx.Response(200, json={"model_name": "m", "outputs": [
            {"name": "output-0", "shape": [3, CLASSES], "datatype": "FP32", "data": probs.flatten().tolist()}]})

    transport = httpx.MockTransport(handler)
    with pytest.raises(OracleError, match="input_name="):
        _oip(transport)
    with pytest.raises(OracleError, match="num_classes="):
        _oip(transport, input_name="input-0")
    oracle = _oip(transport, input_name="input-0", num_classes=CLASSES, output_mode=OutputMode(kind="topk_probs", k=2))
    answers = oracle.query(clips(3))
    assert oracle.probs_name == "output-0"
    assert torch.equal(answers.labels, probs.topk(2, dim=1).indices)
    assert torch.equal((answers.probs > 0).sum(1), torch.full((3,), 2))


def _oip(transport: httpx.MockTransport, **kw) -> OipOracle:
    client = httpx.Client(base_url="http://kserve.test", transport=transport)
    return OipOracle("http://kserve.test", "m", retries=0, client=client, **kw)
