"""The two real priors that install offline (see ``shared/offline-assets.md``), and a tiny random one for tests.

- ``eye_dcgan``: class-conditional DCGAN (PyPI ``omniart-eye-generator==0.1``, MIT), 12.9M parameters,
  128x128 eye images, z (100) concatenated with a one-hot of 8 eye-colour classes. The BigGAN stand-in: the same
  ``G(z, class_vector)`` interface in miniature.
- ``face_dcgan``: unconditional DCGAN trained on DigiFace-1M (PyPI ``gan-face-generate==1.1.1``, install with
  ``--no-deps``), 3.6M parameters, 64x64, z (100). Steered through its latent only (``class_dim == 0``).
- ``test_dcgan``: a seeded random-weight conditional DCGAN at 16/32 px; exercises the same code paths in tests.

Neither real prior knows anything about actions, which is the point of the black-box setting.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vidsteal.models.generators._vendored import load_module_file, package_dir
from vidsteal.models.generators.base import ImageGenerator
from vidsteal.models.generators.registry import register_generator


class EyeDCGAN(ImageGenerator):
    z_dim, class_dim, size = 100, 8, 128
    classes = ("amber", "blue", "brown", "gray", "grayscale", "green", "hazel", "red")

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__()
        root = package_dir("omniart_eye_generator", "pip install omniart-eye-generator==0.1")
        module = load_module_file(root / "generator.py", "_vidsteal_omniart_eye_generator")
        self.net = module.Generator()
        path = Path(weights) if weights else root / "generator_model_state.pth"
        self.net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))

    def _generate(self, z: torch.Tensor, class_vector: torch.Tensor | None) -> torch.Tensor:
        # The packaged forward squeezes z, which breaks a batch of one; feed its layer stack directly.
        x = torch.cat([z, class_vector], dim=1)  # type: ignore[list-item]
        return self.run_layers(self.net.main, x.view(z.shape[0], -1, 1, 1))


class FaceDCGAN(ImageGenerator):
    z_dim, class_dim, size = 100, 0, 64

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__()
        root = package_dir("gan_face_generate", "pip install --no-deps gan-face-generate==1.1.1")
        module = load_module_file(root / "models.py", "_vidsteal_gan_face_models")
        self.net = module.Generator(ngpu=0, nc=3, nz=100, ngf=64)
        path = Path(weights) if weights else root / "weights.tar"
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.net.load_state_dict(state["netG_state_dict"])

    def _generate(self, z: torch.Tensor, class_vector: torch.Tensor | None) -> torch.Tensor:
        return self.run_layers(self.net.main, z.view(z.shape[0], -1, 1, 1))


class TinyDCGAN(ImageGenerator):
    """Random-weight conditional DCGAN: 4x4 stem, one upsampling stage per doubling, tanh output."""

    def __init__(self, z_dim: int = 16, class_dim: int = 4, size: int = 16, width: int = 16, seed: int = 0) -> None:
        super().__init__()
        if size < 8 or size & (size - 1):
            raise ValueError(f"size must be a power of two >= 8, got {size}")
        self.z_dim, self.class_dim, self.size = z_dim, class_dim, size
        g = torch.Generator().manual_seed(seed)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim + class_dim, width, 4), nn.BatchNorm2d(width), nn.ReLU()]
        res = 4
        while res < size:
            layers += [nn.ConvTranspose2d(width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU()]
            res *= 2
        layers += [nn.Conv2d(width, 3, 3, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)

    def _generate(self, z: torch.Tensor, class_vector: torch.Tensor | None) -> torch.Tensor:
        x = z if class_vector is None or self.class_dim == 0 else torch.cat([z, class_vector], 1)
        return self.run_layers(self.net, x.view(z.shape[0], -1, 1, 1))


@register_generator()
def eye_dcgan(weights: str | None = None) -> EyeDCGAN:
    """Offline class-conditional eye DCGAN (128 px, 8 classes); the BigGAN stand-in."""
    return EyeDCGAN(weights)


@register_generator()
def face_dcgan(weights: str | None = None) -> FaceDCGAN:
    """Offline unconditional face DCGAN (64 px)."""
    return FaceDCGAN(weights)


@register_generator()
def test_dcgan(z_dim: int = 16, class_dim: int = 4, size: int = 16, seed: int = 0) -> TinyDCGAN:
    """Tiny seeded random conditional generator for tests."""
    return TinyDCGAN(z_dim, class_dim, size, seed=seed)
