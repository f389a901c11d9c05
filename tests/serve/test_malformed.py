"""A corpus of malformed requests: each gets a 4xx with a message naming the problem, never a 5xx, and the server
keeps answering valid queries afterwards."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
import yaml
from serve_support import ALICE, clips

from vidsteal.serve import ServeConfig, ServerThread, key_entry

GOOD = clips(1)
GOOD_LIST = GOOD.tolist()
FLAT = GOOD.flatten().tolist()
JSON = {"content-type": "application/json"}


def _enc(shape: list[int], dtype: str = "float32", data: bytes | str | None = None) -> dict[str, Any]:
    if data is None:
        data = GOOD.numpy().tobytes()
    text = data if isinstance(data, str) else base64.b64encode(data).decode()
    return {"encoded": {"shape": shape, "dtype": dtype, "data": text}}


def _v2(shape: Any = (1, 3, 4, 16, 16), datatype: str = "FP32", data: Any = None, name: str = "clips",
        **extra: Any) -> dict[str, Any]:
    return {"inputs": [{"name": name, "shape": list(shape), "datatype": datatype,
                        "data": FLAT if data is None else data}], **extra}


def _raw(text: str) -> dict[str, Any]:
    return {"content": text.encode(), "headers": JSON}


def _clip_with(value: str) -> str:
    """A valid nested clip whose first value is replaced by a raw JSON token (NaN, Infinity, ...)."""
    text = json.dumps({"clips": GOOD_LIST})
    first = text.index("[[[[[") + 5
    end = text.index(",", first)
    return text[:first] + value + text[end:]


def _swap_leaf(clip: list, value: Any) -> list:
    """A deep copy of a nested clip whose last pixel is ``value`` (e.g. a list: a mixed-depth, mixed-type clip)."""
    out = json.loads(json.dumps(clip))
    out[0][0][0][0][-1] = value
    return out


V1, V2 = "/v1/query", "/v2/models/victim/infer"
NESTED_V2 = GOOD_LIST  # OIP data may also be nested as deep as the shape
# Pixels that numpy would silently convert (strings, booleans) or that mix types/depths: 4xx naming the first one,
# and nothing charged (test_refused_pixels_cost_nothing replays them all with a budgeted key).
PIXEL_CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    ("string pixels", "POST", V1, {"json": {"clips": clips(1).numpy().astype(str).tolist()}}, 422,
     "clips.0.0.0.0.0: pixels must be JSON numbers, got a string ('0."),
    ("boolean pixels", "POST", V1, {"json": {"clips": (clips(1) > 0.5).tolist()}}, 422,
     "clips.0.0.0.0.0: pixels must be JSON numbers, got a boolean"),
    ("one string pixel", "POST", V1, {"json": {"clips": _swap_leaf(GOOD_LIST, "0.5")}}, 422,
     "clips.0.0.0.0.15: pixels must be JSON numbers, got a string ('0.5')"),
    ("one boolean pixel", "POST", V1, {"json": {"clips": _swap_leaf(GOOD_LIST, True)}}, 422,
     "clips.0.0.0.0.15: pixels must be JSON numbers, got a boolean (true)"),
    ("list in a pixel", "POST", V1, {"json": {"clips": _swap_leaf(GOOD_LIST, [0.5])}}, 422,
     "clips.0.0.0.0.15: pixels must be JSON numbers, got a list"),
    ("object in a pixel", "POST", V1, {"json": {"clips": _swap_leaf(GOOD_LIST, {"v": 0.5})}}, 422,
     "clips.0.0.0.0.15: pixels must be JSON numbers, got an object"),
    ("number among rows", "POST", V1, {"json": {"clips": [[[[[0.5], 0.5]]]]}}, 422,
     "clips must be 5 dims (B, C, T, H, W) of nested lists of numbers, but clips.0.0.0.1 is a number (0.5)"),
    ("clips a string", "POST", V1, {"json": {"clips": "0.5"}}, 422, "but clips is a string"),
    ("shape as strings", "POST", V1, {"json": _enc(["1", "3", "4", "16", "16"])}, 422,
     "encoded.shape.0: Input should be a valid integer"),
    ("shape as booleans", "POST", V1, {"json": _enc([True, 3, 4, 16, 16])}, 422, "encoded.shape.0"),
    ("shape as floats", "POST", V1, {"json": _enc([1.0, 3, 4, 16, 16])}, 422, "encoded.shape.0"),
    ("uint8 bytes for float32", "POST", V1, {"json": _enc([1, 3, 4, 16, 16], data=bytes(3072))}, 422,
     "needs 12288"),
    ("v2 string pixels", "POST", V2, {"json": _v2(data=[str(v) for v in FLAT])}, 400,
     "inputs.0.data.0: pixels must be JSON numbers, got a string"),
    ("v2 boolean pixels", "POST", V2, {"json": _v2(data=[v > 0.5 for v in FLAT])}, 400,
     "inputs.0.data.0: pixels must be JSON numbers, got a boolean"),
    ("v2 null pixel", "POST", V2, {"json": _v2(data=[None, *FLAT[1:]])}, 400, "got null"),
    ("v2 list among flat", "POST", V2, {"json": _v2(data=[*FLAT[:-1], [0.5]])}, 400,
     "inputs.0.data.3071: pixels must be JSON numbers, got a list"),
    ("v2 nested string", "POST", V2, {"json": _v2(data=_swap_leaf(NESTED_V2, "0.5"))}, 400,
     "inputs.0.data.0.0.0.0.15: pixels must be JSON numbers, got a string"),
    ("v2 nested too shallow", "POST", V2, {"json": _v2(data=[[0.5] * 3072])}, 400,
     "but inputs.0.data.0.0 is a number"),
    ("v2 uint8 floats", "POST", V2, {"json": _v2(datatype="UINT8", data=[0.5] * len(FLAT))}, 400,
     "inputs.0.data.0: pixels must be JSON integers, got a number (0.5)"),
    ("v2 uint8 booleans", "POST", V2, {"json": _v2(datatype="UINT8", data=[True] * len(FLAT))}, 400,
     "pixels must be JSON integers, got a boolean"),
    ("v2 shape as strings", "POST", V2, {"json": _v2(shape=["1", "3", "4", "16", "16"])}, 400, "inputs.0.shape.0"),
]
CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    # name, method, path, httpx kwargs, expected status, expected words in the error
    ("bad json", "POST", V1, _raw("{"), 422, "not valid JSON"),
    ("json array", "POST", V1, {"json": [1, 2]}, 422, "body: Input should be an object"),
    ("empty object", "POST", V1, {"json": {}}, 422, "exactly one of"),
    ("both encodings", "POST", V1, {"json": {"clips": GOOD_LIST, **_enc([1, 3, 4, 16, 16])}}, 422, "exactly one of"),
    ("unknown field", "POST", V1, {"json": {"clips": GOOD_LIST, "extra": 1}}, 422, "extra"),
    ("wrong ndim", "POST", V1, {"json": {"clips": [[0.1, 0.2]]}}, 422, "5 dims"),
    ("empty clips", "POST", V1, {"json": {"clips": []}}, 422, "5 dims"),
    ("ragged", "POST", V1, {"json": {"clips": [[[[[0.1, 0.2]]], [[[0.3]]]]]}}, 422, "non-ragged"),
    ("strings", "POST", V1, {"json": {"clips": [[[[["a"]]]]]}}, 422, "numbers"),
    ("one channel", "POST", V1, {"json": {"clips": clips(1)[:, :1].tolist()}}, 422, "3 channels"),
    ("wrong frames", "POST", V1, {"json": {"clips": clips(1)[:, :, :3].tolist()}}, 422, "frames T = 4"),
    ("wrong size", "POST", V1, {"json": {"clips": clips(1)[..., :8, :8].tolist()}}, 422, "height H = 16"),
    ("nan", "POST", V1, _raw(_clip_with("NaN")), 422, "NaN"),
    ("infinity", "POST", V1, _raw(_clip_with("Infinity")), 422, "NaN or Inf"),
    ("null value", "POST", V1, _raw(_clip_with("null")), 422, "NaN, Infinity or null"),
    ("float32 overflow", "POST", V1, _raw(_clip_with("1e40")), 422, "beyond the float32 range"),
    ("above range", "POST", V1, _raw(_clip_with("1.5")), 422, "[0, 1]"),
    ("below range", "POST", V1, _raw(_clip_with("-0.25")), 422, "[0, 1]"),
    ("bad base64", "POST", V1, {"json": _enc([1, 3, 4, 16, 16], data="%%%not-base64")}, 422, "base64"),
    ("byte count", "POST", V1, {"json": _enc([2, 3, 4, 16, 16])}, 422, "needs 24576"),
    ("dtype int64", "POST", V1, {"json": _enc([1, 3, 4, 16, 16], dtype="int64")}, 422, "float32"),
    ("4-d shape", "POST", V1, {"json": _enc([3, 4, 16, 16])}, 422, "encoded.shape"),
    ("zero batch", "POST", V1, {"json": _enc([0, 3, 4, 16, 16], data=b"")}, 422, "positive"),
    ("negative size", "POST", V1, {"json": _enc([1, 3, 4, -16, -16])}, 422, "positive"),
    ("huge claimed shape", "POST", V1, {"json": _enc([10**6, 3, 4, 16, 16])}, 422, "bytes"),
    ("too many clips", "POST", V1, {"json": {"clips": clips(5).tolist()}}, 413, "at most 4"),
    ("oversize body", "POST", V1, {"content": b"[" + b"0," * 600_000 + b"0]", "headers": JSON}, 413, "exceeds"),
    ("text/plain", "POST", V1, {"content": json.dumps({"clips": GOOD_LIST}).encode(),
                                "headers": {"content-type": "text/plain"}}, 415, "application/json"),
    ("no content type", "POST", V1, {"content": json.dumps({"clips": GOOD_LIST}).encode()}, 415, "application/json"),
    ("form data", "POST", V1, {"data": {"clips": "1"}}, 415, "application/json"),
    ("bad request id", "POST", V1, {"json": {"clips": GOOD_LIST}, "headers": {"X-Request-Id": "no spaces"}}, 422,
     "X-Request-Id"),
    ("GET query", "GET", V1, {}, 405, "not allowed"),
    ("unknown route", "GET", "/v1/nope", {}, 404, "no route"),
    ("unknown model", "POST", "/v2/models/resnet/infer", {"json": _v2()}, 404, "not found"),
    ("unknown version", "POST", "/v2/models/victim/versions/7/infer", {"json": _v2()}, 404, "version '7'"),
    ("unknown model metadata", "GET", "/v2/models/resnet", {}, 404, "not found"),
    ("v2 bad json", "POST", V2, _raw('{"inputs": ['), 400, "not valid JSON"),
    ("v2 no inputs", "POST", V2, {"json": {"inputs": []}}, 400, "inputs"),
    ("v2 two inputs", "POST", V2, {"json": {"inputs": _v2()["inputs"] * 2}}, 400, "exactly 1 input"),
    ("v2 input name", "POST", V2, {"json": _v2(name="input0")}, 400, "unknown input 'input0'"),
    ("v2 datatype", "POST", V2, {"json": _v2(datatype="INT32")}, 400, "datatype 'INT32'"),
    ("v2 bytes datatype", "POST", V2, {"json": _v2(datatype="BYTES", data=["x"])}, 400, "datatype 'BYTES'"),
    ("v2 data length", "POST", V2, {"json": _v2(data=FLAT[:-1])}, 400, "3071 values"),
    ("v2 shape rank", "POST", V2, {"json": _v2(shape=(3, 4, 16, 16))}, 400, "[N, 3, T, H, W]"),
    ("v2 negative shape", "POST", V2, {"json": _v2(shape=(-1, 3, 4, 16, 16))}, 400, "sizes >= 0"),
    ("v2 nan", "POST", V2, _raw(json.dumps(_v2()).replace(str(FLAT[0]), "NaN", 1)), 400, "NaN"),
    ("v2 out of range", "POST", V2, {"json": _v2(data=[2.0] * len(FLAT))}, 400, "[0, 1]"),
    ("v2 strings in data", "POST", V2, {"json": _v2(data=["a"] * len(FLAT))}, 400, "numbers"),
    ("v2 uint8 range", "POST", V2, {"json": _v2(datatype="UINT8", data=[300] * len(FLAT))}, 400, "[0, 255]"),
    ("v2 unknown output", "POST", V2, {"json": _v2(outputs=[{"name": "logits"}])}, 400, "'logits'"),
    ("v2 empty batch", "POST", V2, {"json": _v2(shape=(0, 3, 4, 16, 16), data=[])}, 400, "no clips"),
    *PIXEL_CASES,
]


def _send(url: str, method: str, path: str, kwargs: dict[str, Any]) -> httpx.Response:
    headers = {"X-API-Key": ALICE, **kwargs.get("headers", {})}
    rest = {k: v for k, v in kwargs.items() if k != "headers"}
    return httpx.request(method, url + path, headers=headers, timeout=30, **rest)


@pytest.fixture(scope="module")
def server(victim_path, tmp_path_factory):
    keys = tmp_path_factory.mktemp("keys") / "keys.yaml"
    keys.write_text(yaml.safe_dump({"keys": [key_entry("alice", ALICE)]}))
    config = ServeConfig(model_path=victim_path, keys_path=keys, max_batch=4, max_body_bytes=1_000_000)
    with ServerThread(config) as running:
        yield running


@pytest.mark.parametrize("name,method,path,kwargs,status,words", CASES, ids=[c[0] for c in CASES])
def test_malformed_request_gets_a_clear_4xx(server, name, method, path, kwargs, status, words):
    resp = _send(server.url, method, path, kwargs)
    assert resp.status_code == status, resp.text
    assert words in resp.json()["error"], resp.json()


def test_refused_pixels_cost_nothing(victim_path, tmp_path):
    keys = tmp_path / "keys.yaml"
    keys.write_text(yaml.safe_dump({"keys": [key_entry("alice", ALICE, budget=50)]}))
    config = ServeConfig(model_path=victim_path, keys_path=keys, max_batch=4, log_dir=tmp_path / "log")
    with ServerThread(config) as running:
        usage = httpx.get(running.url + "/v1/usage", headers={"X-API-Key": ALICE}).json()
        assert usage == {"budget": 50, "spent": 0, "left": 50}
        for name, method, path, kwargs, status, words in PIXEL_CASES:
            resp = _send(running.url, method, path, kwargs)
            assert resp.status_code == status and words in resp.json()["error"], (name, resp.text)
        assert httpx.get(running.url + "/v1/usage", headers={"X-API-Key": ALICE}).json() == usage
        ok = httpx.post(running.url + V1, json={"clips": [[[[[1, 0] * 8] * 16] * 4] * 3]}, headers={"X-API-Key": ALICE})
        assert ok.status_code == 200 and ok.json()["usage"]["spent"] == 1  # JSON integers are numbers too
    logged = [line for f in (tmp_path / "log").rglob("*.jsonl") for line in f.read_text().splitlines() if line]
    assert len(logged) == 1  # only the valid query reached the query log


def test_server_still_answers_after_the_corpus(server):
    for _, method, path, kwargs, _, _ in CASES:  # replay the whole corpus, then a valid query
        resp = _send(server.url, method, path, kwargs)
        assert resp.status_code < 500, resp.text
    ok = httpx.post(server.url + V1, json={"clips": GOOD_LIST}, headers={"X-API-Key": ALICE})
    assert ok.status_code == 200 and ok.json()["answered"] == 1
    assert httpx.get(server.url + "/v2/health/ready").status_code == 200
