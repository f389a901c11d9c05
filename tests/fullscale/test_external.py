"""Outside victims (torch.export, TorchScript, module:factory) behind model cards, validated on load."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
import yaml
from torch import nn

from vidsteal.data.clips import ClipError
from vidsteal.models import ContractError, InputContract, load_external, load_victim_model
from vidsteal.victims import LocalOracle

T, S = 4, 16


class NTCHWNet(nn.Module):
    """A user's model: (N, T, C, H, W) in [0, 255], own normalisation outside, softmax at the end."""

    def __init__(self, num_classes: int = 3, probabilities: bool = True) -> None:
        super().__init__()
        self.frame = nn.Conv2d(3, 8, 1)  # only works if channels really are dim 2
        self.fc = nn.Linear(8 * T, num_classes)
        self.probabilities = probabilities

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = x.shape
        feats = self.frame(x.reshape(n * t, c, h, w)).mean(dim=(2, 3))
        logits = self.fc(feats.reshape(n, t * 8))
        return logits.softmax(1) if self.probabilities else logits


MEAN, STD = (120.0, 110.0, 100.0), (60.0, 50.0, 40.0)


def _expected(model: NTCHWNet, clips: torch.Tensor) -> torch.Tensor:
    x = (clips * 255 - torch.tensor(MEAN).view(1, 3, 1, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1, 1)
    return model(x.transpose(1, 2))


def _card(path, **fields):
    base = dict(layout="NTCHW", frames=T, size=S, value_range=255, mean=list(MEAN), std=list(STD),
                output="probabilities", classes=["a", "b", "c"])
    path.write_text(yaml.safe_dump({**base, **fields}))
    return path


def test_export_with_static_batch_is_padded_and_probabilities_become_logits(tmp_path):
    torch.manual_seed(0)
    user = NTCHWNet().eval()
    program = torch.export.export(user, (torch.rand(2, T, 3, S, S),))  # static batch of 2
    torch.export.save(program, tmp_path / "victim.pt2")
    _card(tmp_path / "victim.card.yaml")
    with pytest.raises(ContractError, match="declare it as batch_size"):
        load_external(tmp_path / "victim.pt2")
    _card(tmp_path / "victim.card.yaml", batch_size=2)
    victim = load_external(tmp_path / "victim.pt2")
    clips = torch.rand(3, 3, T, S, S)  # 3 clips: one full graph batch + one padded
    logits = victim(clips)
    torch.testing.assert_close(logits.softmax(1), _expected(user, clips), rtol=1e-5, atol=1e-6)
    assert victim.card.categories == ["a", "b", "c"] and victim.card.frames == T
    oracle = LocalOracle(victim)  # the card gives num_classes; eval() must not touch the exported graph
    assert oracle.query(clips).probs.shape == (3, 3)


def test_torchscript_with_json_card_and_classes_file(tmp_path):
    torch.manual_seed(0)
    user = NTCHWNet(probabilities=False).eval()
    torch.jit.save(torch.jit.script(user), tmp_path / "victim.ts")
    (tmp_path / "names.txt").write_text("a\nb\nc\n")
    (tmp_path / "victim.json").write_text(json.dumps(dict(
        layout="NTCHW", frames=T, size=[S, S], value_range=255, mean=MEAN, std=STD, output="logits",
        classes="names.txt")))
    victim = load_victim_model(str(tmp_path / "victim.ts"))
    clips = torch.rand(2, 3, T, S, S)
    torch.testing.assert_close(victim(clips), _expected(user, clips))
    with pytest.raises(ClipError, match=r"\(B, 3, 4, 16, 16\)"):
        victim(torch.rand(2, 3, T + 1, S, S))


def test_module_factory_with_kwargs(tmp_path, monkeypatch):
    (tmp_path / "user_models.py").write_text(textwrap.dedent("""
        from torch import nn

        class Net(nn.Module):
            def __init__(self, classes):
                super().__init__()
                self.conv = nn.Conv3d(3, classes, 1)

            def forward(self, x):  # (N, C, T, H, W), [0, 1], logits
                return self.conv(x).mean(dim=(2, 3, 4))

        def build(classes=2):
            return Net(classes)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    card = tmp_path / "card.yaml"
    card.write_text("frames: 4\nsize: 16\nnum_classes: 5\nfactory_kwargs: {classes: 5}\n")
    victim = load_external("user_models:build", card=card)
    assert victim(torch.rand(2, 3, T, S, S)).shape == (2, 5)
    with pytest.raises(ContractError, match="needs a model card"):
        load_external("user_models:build")
    with pytest.raises(ContractError, match="cannot import"):
        load_external("user_models:missing", card=card)


@pytest.mark.parametrize("fields, message", [
    (dict(layout="NCTHW"), "rejects the input its card declares"),
    (dict(classes=None, num_classes=7), r"declares 7 classes"),
    (dict(output="logits"), "outputs are probability vectors"),
])
def test_cards_that_do_not_describe_the_model_fail_on_load(tmp_path, fields, message):
    torch.jit.save(torch.jit.script(NTCHWNet().eval()), tmp_path / "victim.pt")
    card = _card(tmp_path / "victim.card.yaml", **fields)
    with pytest.raises(ContractError, match=message):
        load_external(tmp_path / "victim.pt", card=card)


def test_probabilities_declared_but_logits_returned(tmp_path):
    torch.jit.save(torch.jit.script(NTCHWNet(probabilities=False).eval()), tmp_path / "victim.pt")
    with pytest.raises(ContractError, match="says it returns probabilities"):
        load_external(tmp_path / "victim.pt", card=_card(tmp_path / "c.yaml"))


def test_invalid_cards_name_the_field(tmp_path):
    with pytest.raises(ContractError, match="give both mean and std"):
        InputContract.from_file(_card(tmp_path / "a.yaml", std=None))
    with pytest.raises(ContractError, match="layout"):
        InputContract.from_file(_card(tmp_path / "b.yaml", layout="NHWC"))
    with pytest.raises(ContractError, match="3 class names but num_classes = 4"):
        InputContract.from_file(_card(tmp_path / "c.yaml", num_classes=4))
    (tmp_path / "orphan.pt2").write_bytes(b"")
    with pytest.raises(ContractError, match="orphan.card.yaml"):
        load_external(tmp_path / "orphan.pt2")
    _card(tmp_path / "junk.card.yaml")
    (tmp_path / "junk.pt2").write_bytes(b"not a zip")
    with pytest.raises(ContractError, match="not a torch.export archive"):
        load_external(tmp_path / "junk.pt2")
