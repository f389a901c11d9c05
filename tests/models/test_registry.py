import pytest
import torch

from vidsteal.models import create_model, list_models, load_model, read_card, save_model
from vidsteal.registry import Registry


@pytest.mark.parametrize("name", list_models("test_*") + ["c3d_small", "c3d_student", "frame_cnn", "swin3d_small"])
def test_forward_backward_shapes(name):
    model = create_model(name, num_classes=7)
    x = torch.rand(2, 3, 8, 32, 32, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_images_are_clips_with_one_frame():
    model = create_model("test_frame_cnn", num_classes=3)
    assert model(torch.rand(2, 3, 1, 32, 32)).shape == (2, 3)


@pytest.mark.parametrize("name", ["test_c3d", "test_swin3d", "test_frame_vit", "test_frame_cnn"])
def test_safetensors_roundtrip_same_outputs(name, tmp_path):
    model = create_model(name, num_classes=5).eval()
    x = torch.rand(3, 3, 8, 32, 32)
    path = save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(path)
    assert read_card(path).arch == name
    torch.testing.assert_close(model(x), loaded(x), rtol=0, atol=0)


def test_temporal_option_changes_architecture():
    model = create_model("test_frame_cnn", num_classes=4, temporal="conv")
    assert model(torch.rand(2, 3, 8, 32, 32)).shape == (2, 4)
    with pytest.raises(ValueError, match="temporal"):
        create_model("test_frame_cnn", num_classes=4, temporal="lstm")


def test_load_rejects_files_without_card(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "bare.safetensors"))
    with pytest.raises(ValueError, match="no vidsteal model card"):
        load_model(tmp_path / "bare.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x80\x04not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_model(tmp_path / "junk.safetensors")


def test_registry_errors_and_wildcards():
    reg: Registry = Registry("thing")
    reg.register("a_one")(lambda: 1)
    reg.register("b_two")(lambda: 2)
    assert reg.list("a_*") == ["a_one"]
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a_one")(lambda: 3)
    with pytest.raises(KeyError, match="registered: a_one, b_two"):
        reg.get("c")
