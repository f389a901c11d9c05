"""The server's API surface: keys, info, both encodings, OIP v2 routes, OpenAPI, replay of retried requests."""

from __future__ import annotations


import httpx
import pytest
import torch
from serve_support import ALICE, BOB, CLASSES, clips, encoded

from vidsteal.serve.auth import hash_key, load_keys, new_key
from vidsteal.victims.local import LocalOracle
from vidsteal.victims.outputs import OutputMode



def test_keys_are_stored_hashed(keys_file):
    path = keys_file(alice={"budget": 5, "rate": 2.0, "burst": 3})
    text = path.read_text()
    assert ALICE not in text and hash_key(ALICE) in text
    record = load_keys(path).keys[0]
    assert (record.name, record.budget, record.rate, record.burst) == ("alice", 5, 2.0, 3)
    assert new_key() != new_key() and len(hash_key(new_key())) == 64


@pytest.mark.parametrize("path,method", [("/v1/query", "POST"), ("/v1/info", "GET"), ("/v1/usage", "GET"),
                                         ("/v2/models/victim", "GET"), ("/v2/models/victim/infer", "POST")])
def test_missing_key_is_401_wrong_key_is_403(serve, keys_file, path, method):
    server = serve(keys_path=keys_file(alice={}))
    body = {"clips": clips(1).tolist()} if method == "POST" else None
    missing = httpx.request(method, server.url + path, json=body)
    assert missing.status_code == 401 and "missing API key" in missing.json()["error"]
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    wrong = httpx.request(method, server.url + path, json=body, headers={"X-API-Key": "vs_not-a-key"})
    assert wrong.status_code == 403 and "not recognised" in wrong.json()["error"]
    scheme = httpx.request(method, server.url + path, json=body, headers={"Authorization": "Basic abc"})
    assert scheme.status_code == 401 and "Bearer" in scheme.json()["error"]


def test_health_needs_no_key_and_both_key_headers_work(serve, keys_file):
    server = serve(keys_path=keys_file(alice={}, bob={}))
    for path in ("/v1/health", "/v2/health/live", "/v2/health/ready", "/v2", "/v2/models/victim/ready"):
        assert httpx.get(server.url + path).status_code == 200, path
    by_bearer = httpx.get(server.url + "/v1/info", headers={"Authorization": f"Bearer {ALICE}"})
    by_header = httpx.get(server.url + "/v1/info", headers={"X-API-Key": BOB})
    assert by_bearer.status_code == by_header.status_code == 200
    info = by_bearer.json()
    assert info["num_classes"] == CLASSES and (info["frames"], info["size"]) == (4, 16)
    assert "arch" not in info  # the victim's architecture is not disclosed


@pytest.mark.parametrize("mode", [OutputMode(), OutputMode(kind="topk_probs", k=3), OutputMode(kind="label"),
                                  OutputMode(kind="rounded", decimals=1), OutputMode(kind="topk_labels", k=2)])
def test_v1_answers_equal_local_answers_in_every_output_mode(serve, victim_path, mode):
    server = serve(output_mode=mode)
    x = clips(5, seed=3)
    local = LocalOracle.from_file(victim_path, output_mode=mode).query(x)
    for body in (encoded(x), {"clips": x.tolist()}):
        got = httpx.post(server.url + "/v1/query", json=body).json()
        assert got["output_mode"] == mode.to_dict() and got["answered"] == got["requested"] == 5
        assert torch.equal(torch.tensor(got["labels"]), local.labels)
        if local.probs is None:
            assert got["probs"] is None
        else:
            assert torch.allclose(torch.tensor(got["probs"]), local.probs, atol=1e-6)


def test_v1_uint8_encoding(serve, victim_path):
    server = serve()
    x8 = (clips(2) * 255).round().to(torch.uint8)
    got = httpx.post(server.url + "/v1/query", json=encoded(x8)).json()
    local = LocalOracle.from_file(victim_path).query(x8.float() / 255)
    assert torch.allclose(torch.tensor(got["probs"]), local.probs, atol=1e-6)


def test_oip_metadata_and_infer(serve, keys_file, victim_path):
    server = serve(keys_path=keys_file(alice={}), output_mode=OutputMode(kind="topk_probs", k=3))
    headers = {"Authorization": f"Bearer {ALICE}"}
    meta = httpx.get(server.url + "/v2/models/victim", headers=headers).json()
    assert meta["inputs"][0] == {"name": "clips", "datatype": "FP32", "shape": [-1, 3, 4, 16, 16], "parameters": None}
    assert [o["name"] for o in meta["outputs"]] == ["probabilities", "labels"]
    assert meta["parameters"]["output_mode"]["kind"] == "topk_probs" and meta["parameters"]["num_classes"] == CLASSES
    assert httpx.get(server.url + "/v2/models/victim/versions/1", headers=headers).status_code == 200
    x = clips(3, seed=4)
    request = {"id": "abc", "inputs": [{"name": "clips", "shape": list(x.shape), "datatype": "FP32",
                                        "data": x.flatten().tolist()}], "outputs": [{"name": "labels"}]}
    got = httpx.post(server.url + "/v2/models/victim/versions/1/infer", json=request, headers=headers).json()
    assert got["id"] == "abc" and got["model_name"] == "victim" and len(got["outputs"]) == 1
    labels = got["outputs"][0]
    assert labels["datatype"] == "INT64" and labels["shape"] == [3, 3]
    local = LocalOracle.from_file(victim_path, output_mode=OutputMode(kind="topk_probs", k=3)).query(x)
    assert torch.equal(torch.tensor(labels["data"]).view(3, 3), local.labels)


def test_openapi_documents_both_apis(serve):
    schema = httpx.get(serve().url + "/openapi.json").json()
    paths = schema["paths"]
    for path in ("/v1/query", "/v1/info", "/v2/models/{name}/infer", "/v2/health/ready", "/v2/models/{name}"):
        assert path in paths, path
    body = paths["/v1/query"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/QueryRequest"}
    components = schema["components"]["schemas"]
    assert {"QueryRequest", "EncodedClips", "InferenceRequest", "RequestInput", "QueryResponse"} <= set(components)
    assert "402" in paths["/v1/query"]["post"]["responses"]
    assert {"414", "431", "503"} <= set(paths["/v2/models/{name}/infer"]["post"]["responses"])


def test_retried_request_id_replays_the_paid_answer(serve, keys_file):
    server = serve(keys_path=keys_file(alice={"budget": 10}))
    client = httpx.Client(base_url=server.url, headers={"X-API-Key": ALICE})
    x = clips(3)
    first = client.post("/v1/query", json=encoded(x), headers={"X-Request-Id": "retry-1"}).json()
    again = client.post("/v1/query", json=encoded(x), headers={"X-Request-Id": "retry-1"}).json()
    assert again == first and again["usage"]["spent"] == 3
    assert client.get("/v1/usage").json() == {"budget": 10, "spent": 3, "left": 7}
    other = client.post("/v1/query", json=encoded(clips(3, seed=9)), headers={"X-Request-Id": "retry-1"})
    assert other.status_code == 409 and "different clips" in other.json()["error"]


def test_budget_survives_a_restart_through_the_query_log(serve, keys_file, tmp_path):
    keys = keys_file(alice={"budget": 10})
    log_dir = tmp_path / "logs"
    first = serve(keys_path=keys, log_dir=log_dir)
    client = httpx.Client(headers={"X-API-Key": ALICE})
    assert client.post(first.url + "/v1/query", json=encoded(clips(6))).status_code == 200
    first.stop()
    second = serve(keys_path=keys, log_dir=log_dir)
    assert client.get(second.url + "/v1/usage").json() == {"budget": 10, "spent": 6, "left": 4}
    lines = (log_dir / "alice.jsonl").read_text().splitlines()
    assert len(lines) == 1 and '"n":6' in lines[0] and ALICE not in lines[0]
