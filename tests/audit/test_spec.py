"""One victim spec resolves every kind of victim to an oracle + card, and every bad spec to one clear line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import yaml
from audit_support import CLASSES, FRAMES, SIZE

from vidsteal.models import create_model, save_model
from vidsteal.serve import ServeConfig, ServerThread
from vidsteal.victims.spec import VictimSpecError, resolve_victim


def _clips(n: int) -> torch.Tensor:
    return torch.rand(n, 3, FRAMES, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


def test_torchscript_file_with_card_beside_it(user_victim: Path) -> None:
    victim = resolve_victim(user_victim)
    assert victim.kind == "torchscript" and not victim.remote
    assert (victim.card.categories, victim.card.frames, victim.card.size) == (CLASSES, FRAMES, SIZE)
    red = torch.zeros(1, 3, FRAMES, SIZE, SIZE)
    red[:, 0] = 0.9
    assert CLASSES[int(victim.oracle.query(red).top1)] == "red"


def test_safetensors_and_module_factory(tmp_path: Path) -> None:
    model = create_model("test_c3d", num_classes=4)
    model.card = model.card.model_copy(update={"frames": FRAMES, "size": SIZE})
    victim = resolve_victim(save_model(model, tmp_path / "v.safetensors"))
    assert victim.kind == "safetensors" and victim.oracle.num_classes == 4
    torch.testing.assert_close(victim.oracle.query(_clips(2)).probs, model.eval()(_clips(2)).softmax(1))
    card = tmp_path / "factory.yaml"
    card.write_text(yaml.safe_dump({"layout": "NTCHW", "frames": FRAMES, "size": SIZE, "num_classes": 3}))
    factory = resolve_victim("audit_support:ColourNet", card=card)
    assert factory.kind == "factory" and factory.card.num_classes == 3


def _bad_specs(tmp_path: Path, user_victim: Path) -> dict[str, tuple[str, dict, str]]:
    noise = tmp_path / "noise.ts"
    noise.write_bytes(bytes(range(256)) * 40)
    (tmp_path / "noise.card.yaml").write_text((user_victim.parent / "victim.card.yaml").read_text())
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump({"layout": "NTCHW", "frames": FRAMES, "size": SIZE, "value_range": 255,
                                     "num_classes": 5}))
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return {
        "missing file": (str(tmp_path / "nope.ts"), {}, "does not exist"),
        "random binary": (str(noise), {}, "not a TorchScript archive"),
        "refused URL": (f"oip+http://127.0.0.1:{port}/v2/models/victim", {}, "cannot connect"),
        "refused vidsteal URL": (f"http://127.0.0.1:{port}", {}, "cannot connect"),
        "card mismatch": (str(user_victim), {"card": wrong}, "declares 5 classes, so (2, 5) was expected"),
        "unknown suffix": (str(wrong), {}, "cannot tell what victim"),
        "bad OIP path": (f"oip+http://127.0.0.1:{port}/models/victim", {}, "oip+http://host:port/v2/models/NAME"),
    }


def test_every_bad_spec_is_one_clear_line(tmp_path: Path, user_victim: Path) -> None:
    for case, (spec, kwargs, expected) in _bad_specs(tmp_path, user_victim).items():
        with pytest.raises(VictimSpecError) as err:
            resolve_victim(spec, **kwargs)
        message = str(err.value)
        assert expected in message and "\n" not in message and len(message) <= 400, (case, message)


def test_vidsteal_server_and_its_oip_routes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = create_model("test_c3d", num_classes=3)
    model.card = model.card.model_copy(update={"frames": FRAMES, "size": SIZE, "categories": CLASSES})
    path = save_model(model, tmp_path / "v.safetensors")
    server = ServerThread(ServeConfig(model_path=path)).start()
    try:
        monkeypatch.setenv("VIDSTEAL_API_KEY", "ignored-by-an-open-server")
        http = resolve_victim(server.url)
        assert http.kind == "http" and http.remote and http.card.categories == CLASSES
        assert http.oracle.wire_dtype == "uint8"  # remote victims get 8-bit clips by default
        oip = resolve_victim(f"oip+{server.url}/v2/models/victim")
        assert oip.kind == "oip" and (oip.card.frames, oip.card.size) == (FRAMES, SIZE)
        assert oip.oracle.input_datatype == "FP32"  # this server's metadata declares FP32 only
        x = _clips(3)
        torch.testing.assert_close(http.oracle.query(x).probs, oip.oracle.query(x).probs, atol=1e-5, rtol=1e-4)
        too_many = tmp_path / "card.yaml"
        too_many.write_text(yaml.safe_dump({"frames": FRAMES, "size": SIZE, "num_classes": 7}))
        with pytest.raises(VictimSpecError, match="declares 7 classes"):
            resolve_victim(f"oip+{server.url}/v2/models/victim", card=too_many)
        http.close()
        oip.close()
    finally:
        server.stop()
