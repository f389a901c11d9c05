"""Generator priors load offline behind one G(z, class_vector) adapter, and gradients reach the class vector."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from vidsteal.models.generators import create_generator, list_generators
from vidsteal.models.generators.biggan import TINY_BIGGAN, load_biggan_folder


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _check(gen, n: int = 2) -> torch.Tensor:
    z = gen.sample_z(n, torch.Generator().manual_seed(0))
    c = gen.one_hot(torch.arange(n)).requires_grad_(True) if gen.class_dim else None
    images = gen(z, c)
    assert images.shape == (n, 3, gen.size, gen.size)
    assert 0 <= images.min() and images.max() <= 1 and images.std() > 0.01
    if c is not None:
        images.mean().backward()
        assert c.grad is not None and c.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in gen.parameters())  # the prior is frozen
    return images


def test_registry_lists_the_priors():
    assert {"eye_dcgan", "face_dcgan", "biggan", "test_biggan", "test_dcgan"} <= set(list_generators())


@pytest.mark.skipif(not _installed("omniart_eye_generator"), reason="pip install omniart-eye-generator==0.1")
def test_eye_dcgan_real_weights_on_cpu():
    gen = create_generator("eye_dcgan")
    assert (gen.z_dim, gen.class_dim, gen.size) == (100, 8, 128)
    images = _check(gen)
    gen.train()  # callers cannot switch dropout back on: the same input gives the same image
    z = gen.sample_z(1, torch.Generator().manual_seed(3))
    c = gen.one_hot(torch.tensor([2]))
    assert torch.equal(gen(z, c), gen(z, c)) and images.shape[0] == 2


@pytest.mark.skipif(not _installed("gan_face_generate"), reason="pip install --no-deps gan-face-generate==1.1.1")
def test_face_dcgan_real_weights_unconditional():
    gen = create_generator("face_dcgan")
    assert gen.class_dim == 0
    _check(gen)


@pytest.mark.skipif(not _installed("pytorch_pretrained_biggan"), reason="pip install --no-deps pytorch-pretrained-biggan")
def test_tiny_biggan_and_local_folder_roundtrip(tmp_path):
    gen = create_generator("test_biggan")
    assert (gen.class_dim, gen.size) == (TINY_BIGGAN["num_classes"], TINY_BIGGAN["output_dim"])
    images = _check(gen)
    import json

    (tmp_path / "config.json").write_text(json.dumps(TINY_BIGGAN))
    torch.save(gen.net.state_dict(), tmp_path / "pytorch_model.bin")  # the package's own weights layout
    loaded = load_biggan_folder(tmp_path).freeze()
    z = gen.sample_z(2, torch.Generator().manual_seed(0))
    c = gen.one_hot(torch.arange(2))
    assert torch.allclose(loaded(z, c), gen(z, c)) and images.shape[0] == 2


def test_biggan_never_downloads(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        create_generator("biggan", weights=str(tmp_path))
