"""Full-size victims and students: build, forward on 16x112x112 clips, and load published-layout weights."""

from __future__ import annotations

import pytest
import timm
import torch
from safetensors.torch import save_file

from vidsteal.models import WeightsError, create_model, list_models, load_model, load_weights, save_model
from vidsteal.models.movinet import SamePool, _same_pad
from vidsteal.models.movinet_keys import (
    convert_reference_state_dict,
    reference_key_to_ours,
    to_reference_state_dict,
)

CLIP = (1, 3, 16, 112, 112)
# Parameter counts with the default heads (torchvision's published figures for its models).
FULL_SIZE = {"swin3d_t": (400, 28_158_070), "r3d_18": (400, 33_371_472), "r2plus1d_18": (400, 31_505_325),
             "movinet_a0": (600, None), "movinet_a1": (600, None), "movinet_a2": (600, None),
             "resnet50_frame": (600, None), "vit_tiny_frame": (400, None)}


@pytest.mark.parametrize("name", sorted(FULL_SIZE))
def test_full_size_models_are_registered_at_real_size(name):
    classes, params = FULL_SIZE[name]
    model = create_model(name, num_classes=classes)
    count = sum(p.numel() for p in model.parameters())
    if params is not None:
        assert count == params
    assert {"movinet_a0": 3.0e6, "resnet50_frame": 24e6, "vit_tiny_frame": 5.5e6}.get(name, 0) <= count


@pytest.mark.slow
@pytest.mark.parametrize("name", ["swin3d_t", "movinet_a0", "vit_tiny_frame", "r3d_18"])
def test_real_size_forward_on_a_16x112x112_clip(name):
    model = create_model(name, num_classes=10).eval()
    with torch.inference_mode():
        out = model(torch.rand(*CLIP))
    assert out.shape == (1, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["test_movinet", "test_swin3d_t", "test_resnet50_frame", "test_vit_tiny_frame"])
def test_tiny_variants_forward_backward_on_16x112x112(name):
    model = create_model(name, num_classes=5)
    x = torch.rand(*CLIP, requires_grad=True)
    out = model(x)
    assert out.shape == (1, 5) and torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_movinet_same_padding_matches_tensorflow():
    x = torch.arange(2 * 8 * 8, dtype=torch.float32).view(1, 2, 1, 8, 8)
    assert _same_pad(x, 3, 2).shape[-2:] == (9, 9)  # even size, stride 2: one extra row/col, bottom/right
    assert _same_pad(x[..., :7, :7], 3, 2).shape[-2:] == (9, 9)  # odd size: one on each side
    pooled = SamePool()(torch.ones(1, 2, 3, 8, 7))
    assert pooled.shape == (1, 2, 3, 4, 4) and torch.allclose(pooled, torch.ones_like(pooled))  # pads not counted
    assert SamePool()(x)[0, 0, 0, -1, -1] == x[0, 0, 0, 6:, 6:].mean()


def test_movinet_reference_keys_round_trip(tmp_path):
    torch.manual_seed(0)
    model = create_model("test_movinet", num_classes=7).eval()
    reference = to_reference_state_dict(model)
    assert "conv1.conv_1.conv3d.weight" in reference and "blocks.b1_l1.alpha" in reference
    assert "blocks.b0_l0.res.1.conv_1.conv3d.weight" in reference  # strided: pool at res.0, conv at res.1
    assert reference["classifier.3.conv_1.conv3d.weight"].shape == (7, 16, 1, 1, 1)
    assert not any(k.startswith("blocks.b1_l1.res") for k in reference)  # identity shortcut
    torch.save(reference, tmp_path / "movinet.pth")
    save_file({k: v.contiguous() for k, v in reference.items()}, str(tmp_path / "movinet.safetensors"))
    x = torch.rand(1, 3, 4, 32, 32)
    for name in ("movinet.pth", "movinet.safetensors"):
        torch.manual_seed(1)
        fresh = create_model("test_movinet", num_classes=7).eval()
        load_weights(fresh, tmp_path / name)
        torch.testing.assert_close(fresh(x), model(x), rtol=0, atol=0)
    assert convert_reference_state_dict(reference).keys() == model.state_dict().keys()


def test_movinet_a0_reference_layout_and_older_port_layout():
    model = create_model("movinet_a0", num_classes=600)
    reference = to_reference_state_dict(model)
    assert reference["blocks.b4_l3.se.fc2.conv_1.conv3d.weight"].shape == (344, 88, 1, 1, 1)
    assert reference["conv7.conv_1.conv3d.weight"].shape == (480, 104, 1, 1, 1)
    assert reference["classifier.0.conv_1.conv3d.weight"].shape == (2048, 480, 1, 1, 1)
    assert reference_key_to_ours("blocks.b2_l0.deep.conv3d.weight") == "stages.2.0.depthwise.conv.weight"
    assert reference_key_to_ours("blocks.b2_l0.se.fc1.bias") == "stages.2.0.se.reduce.bias"
    assert reference_key_to_ours("conv1.norm.running_var") == "stem.bn.running_var"
    with pytest.raises(WeightsError, match="no MoViNet key rule"):
        reference_key_to_ours("cgap.activation")


def test_torchvision_layout_loads_and_mismatches_are_explained(tmp_path):
    torch.manual_seed(0)
    source = create_model("test_swin3d_t", num_classes=400).eval()
    torch.save({"model": source.net.state_dict()}, tmp_path / "swin.pth")  # a training-script wrapper dict
    target = load_weights(create_model("test_swin3d_t", num_classes=400).eval(), tmp_path / "swin.pth")
    x = torch.rand(1, 3, 4, 32, 32)
    torch.testing.assert_close(target(x), source(x), rtol=0, atol=0)
    assert len(target.card.categories) == 400 and target.card.categories[0] == "abseiling"
    other = create_model("test_swin3d_t", num_classes=600)
    with pytest.raises(WeightsError, match="shape mismatch.*skip_classifier"):
        load_weights(other, tmp_path / "swin.pth")
    load_weights(other, tmp_path / "swin.pth", skip_classifier=True)
    torch.testing.assert_close(other.net.patch_embed.proj.weight, source.net.patch_embed.proj.weight)
    with pytest.raises(WeightsError, match="does not exist"):
        load_weights(other, tmp_path / "absent.pth")


def test_pickled_objects_are_refused(tmp_path):
    torch.save({"state_dict": {"w": torch.zeros(1)}, "args": _Opaque()}, tmp_path / "pickled.pth")
    with pytest.raises(WeightsError, match="cannot read weights"):
        load_weights(create_model("test_swin3d_t", num_classes=4), tmp_path / "pickled.pth")


class _Opaque:
    pass


@pytest.mark.parametrize("name, timm_name, kwargs", [
    ("test_resnet50_frame", "resnet50", dict(layers=(1, 1, 1, 1), channels=(8, 16, 32, 64), stem_width=8)),
    ("test_vit_tiny_frame", "vit_tiny_patch16_224", dict(img_size=64, depth=1, embed_dim=16, num_heads=2)),
])
def test_timm_students_take_local_imagenet_weights(tmp_path, name, timm_name, kwargs):
    torch.manual_seed(0)
    imagenet = timm.create_model(timm_name, num_classes=1000, **kwargs)  # a classifier the student must drop
    save_file({k: v.contiguous() for k, v in imagenet.state_dict().items()}, str(tmp_path / "in1k.safetensors"))
    student = load_weights(create_model(name, num_classes=6), tmp_path / "in1k.safetensors")
    for key, value in student.backbone.state_dict().items():
        torch.testing.assert_close(value, imagenet.state_dict()[key])
    assert student(torch.rand(1, 3, 2, 64, 64)).shape == (1, 6)
    path = save_model(student, tmp_path / "student.safetensors")  # the card holds no weights path to re-read
    torch.testing.assert_close(load_model(path).backbone.state_dict()[key], value)


def test_every_test_variant_has_a_full_size_sibling():
    full = set(list_models())
    for name in ("test_movinet", "test_swin3d_t", "test_resnet50_frame", "test_vit_tiny_frame"):
        assert name in full
