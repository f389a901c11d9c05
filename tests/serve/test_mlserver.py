"""The OIP client against a real MLServer (its own venv, vidsteal's custom runtime): same answers, same KD loop.

Skipped, with the reason, when ``.venv-mlserver`` is absent; ``bash scripts/mlserver_venv.sh`` creates it.
"""

from __future__ import annotations

import httpx
import pytest
import torch
from serve_support import CLASSES, clips, distill

from vidsteal.victims.http import RemoteError
from vidsteal.victims.local import LocalOracle
from vidsteal.victims.oip import OipOracle
from vidsteal.victims.outputs import OutputMode

pytestmark = pytest.mark.server


def test_mlserver_metadata_describes_the_victim(mlserver):
    meta = httpx.get(f"{mlserver}/v2/models/victim").json()
    assert meta["inputs"][0]["name"] == "clips" and meta["inputs"][0]["shape"] == [-1, 3, 4, 16, 16]
    assert {o["name"]: o["shape"] for o in meta["outputs"]}["probabilities"] == [-1, CLASSES]
    assert httpx.get(f"{mlserver}/v2/health/ready").status_code == 200


@pytest.mark.parametrize("mode", [OutputMode(), OutputMode(kind="topk_probs", k=3), OutputMode(kind="label")],
                         ids=lambda m: m.kind.value)
def test_kd_loop_on_mlserver_matches_local(mlserver, victim_path, mode):
    local = distill(LocalOracle.from_file(victim_path, output_mode=mode))
    with OipOracle(mlserver, "victim", output_mode=mode, batch_size=4, max_concurrency=2,
                   wire_dtype="float32") as oracle:  # exact float clips; UINT8 (the default) is tested below
        assert oracle.num_classes == CLASSES  # read from the metadata's output shape
        remote = distill(oracle)
        assert oracle.queries == 18
    assert remote == pytest.approx(local, abs=1e-5)


def test_mlserver_answers_equal_local_answers(mlserver, victim_path):
    x = clips(9, seed=21)
    expected = LocalOracle.from_file(victim_path).query(x)
    with OipOracle(mlserver, "victim", batch_size=9, wire_dtype="float32") as oracle:
        got = oracle.query(x)
    assert torch.equal(got.labels, expected.labels)
    assert torch.allclose(got.probs, expected.probs, atol=1e-6)


def test_mlserver_takes_8bit_clips_by_default(mlserver, victim_path):
    meta = httpx.get(f"{mlserver}/v2/models/victim").json()
    assert meta["parameters"]["input_datatypes"][0] == "UINT8" and meta["parameters"]["num_classes"] == CLASSES
    x = (clips(9, seed=22) * 255).round() / 255  # what the client sends: the clips on the 8-bit grid
    expected = LocalOracle.from_file(victim_path).query(x)
    with OipOracle(mlserver, "victim", batch_size=9) as oracle:
        assert oracle.input_datatype == "UINT8"
        got = oracle.query(clips(9, seed=22))
    assert torch.equal(got.labels, expected.labels)
    assert torch.allclose(got.probs, expected.probs, atol=1e-6)


def test_mlserver_refuses_bad_clips_with_a_4xx(mlserver):
    with OipOracle(mlserver, "victim", retries=0, wire_dtype="float32") as oracle:  # UINT8 would clamp
        with pytest.raises(RemoteError) as err:
            oracle._answer(torch.full((1, 3, 4, 16, 16), 2.0))  # bypass the client-side check on purpose
    assert err.value.status == 400 and "[0, 1]" in err.value.message
    with pytest.raises(Exception, match="not found|404"):
        OipOracle(mlserver, "no_such_model", retries=0)
