"""BigGAN (Brock et al., 2019, https://arxiv.org/abs/1809.11096) through ``pytorch-pretrained-biggan``, offline.

The reference study's prior: BigGAN-deep/BigGAN ImageNet, class vector -> linear class embedding, concatenated
with z. Weights are read from a *local* folder holding ``config.json`` and ``pytorch_model.bin`` (the package's
layout) or ``model.safetensors``; nothing is ever downloaded. ``test_biggan`` builds the same network from a tiny
random-weight config so tests exercise the real code.

Install with ``pip install --no-deps pytorch-pretrained-biggan``: its ``__init__`` imports boto3/requests for
downloads, so we load only its ``config.py`` and ``model.py`` (with an inert ``file_utils`` in place of the
downloader).
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import torch

from vidsteal.models.generators._vendored import load_module_file, package_dir, stub_package
from vidsteal.models.generators.base import ImageGenerator
from vidsteal.models.generators.registry import register_generator

_PKG = "_vidsteal_biggan"


def _no_download(url_or_filename: str, cache_dir: Any = None) -> str:
    if not Path(str(url_or_filename)).exists():
        raise FileNotFoundError(f"{url_or_filename} is not a local file; vidsteal never downloads generator weights")
    return str(url_or_filename)


def _biggan_modules() -> tuple[types.ModuleType, types.ModuleType]:
    root = package_dir("pytorch_pretrained_biggan", "pip install --no-deps pytorch-pretrained-biggan")
    pkg = stub_package(_PKG, root)
    if f"{_PKG}.file_utils" not in sys.modules:
        file_utils = types.ModuleType(f"{_PKG}.file_utils")
        file_utils.cached_path = _no_download  # type: ignore[attr-defined]
        sys.modules[f"{_PKG}.file_utils"] = file_utils
    config = load_module_file(root / "config.py", f"{_PKG}.config", pkg)
    model = load_module_file(root / "model.py", f"{_PKG}.model", pkg)
    return config, model


class BigGANPrior(ImageGenerator):
    """BigGAN with its one-hot class input replaced by any (learnable) class vector.

    Args:
        config: a ``BigGANConfig`` field dict (``output_dim``, ``z_dim``, ``num_classes``, ``layers`` ...).
        state: its state dict, or None for random weights (tests).
        truncation: the truncation the batch-norm statistics are taken at; z is drawn with this std.
    """

    def __init__(self, config: dict[str, Any], state: dict[str, torch.Tensor] | None = None,
                 truncation: float = 0.4) -> None:
        super().__init__()
        if not 0 < truncation <= 1:
            raise ValueError(f"truncation must be in (0, 1], got {truncation}")
        config_mod, model_mod = _biggan_modules()
        cfg = config_mod.BigGANConfig.from_dict(config)
        self.net = model_mod.BigGAN(cfg)
        if state is None:
            self._init_random(cfg)
        else:
            missing, unexpected = self.net.load_state_dict(state, strict=False)
            real_missing = [k for k in missing if not k.endswith(("weight_u", "weight_v", "weight_orig"))]
            if real_missing or unexpected:
                raise ValueError(f"BigGAN weights do not match the config: missing {real_missing[:5]}, "
                                 f"unexpected {list(unexpected)[:5]}")
        self.z_dim, self.class_dim, self.size = cfg.z_dim, cfg.num_classes, cfg.output_dim
        self.truncation = self.z_scale = truncation

    def _generate(self, z: torch.Tensor, class_vector: torch.Tensor | None) -> torch.Tensor:
        return self.net(z, class_vector, self.truncation)

    @torch.no_grad()
    def _init_random(self, cfg: Any) -> None:
        """Make random weights usable: the package leaves the last batch-norm affine uninitialised, and spectral
        norm divides by a sigma estimate that only power iteration (forwards in train mode) makes accurate."""
        self.net.generator.bn.weight.fill_(1.0)
        self.net.generator.bn.bias.zero_()
        self.net.train()
        onehot = torch.eye(cfg.num_classes)[:4]
        for _ in range(20):
            self.net(torch.randn(4, cfg.z_dim), onehot, 1.0)
        self.net.eval()


def load_biggan_folder(folder: str | Path, truncation: float = 0.4) -> BigGANPrior:
    """BigGAN from a local folder: ``config.json`` + ``model.safetensors`` or ``pytorch_model.bin`` (no pickle)."""
    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"{folder} has no config.json; expected a pytorch-pretrained-biggan weights folder")
    config = json.loads((folder / "config.json").read_text())
    if (folder / "model.safetensors").exists():
        from safetensors.torch import load_file

        state = load_file(str(folder / "model.safetensors"))
    elif (folder / "pytorch_model.bin").exists():
        state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise FileNotFoundError(f"{folder} has neither model.safetensors nor pytorch_model.bin")
    return BigGANPrior(config, state, truncation)


TINY_BIGGAN = {
    "output_dim": 32, "z_dim": 16, "class_embed_dim": 16, "channel_width": 4, "num_classes": 10,
    "layers": [(True, 16, 8), (True, 8, 4), (True, 4, 2), (False, 2, 1)], "attention_layer_position": 2,
    "eps": 1e-4, "n_stats": 51,
}


@register_generator()
def biggan(weights: str, truncation: float = 0.4) -> BigGANPrior:
    """Pretrained BigGAN from a local weights folder (e.g. the package's ``biggan-deep-128`` layout)."""
    return load_biggan_folder(weights, truncation)


@register_generator()
def test_biggan(seed: int = 0, truncation: float = 0.4) -> BigGANPrior:
    """The real BigGAN network at a tiny random-weight config (32 px, 10 classes)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return BigGANPrior(TINY_BIGGAN, None, truncation)
