"""The generator-prior interface: ``G(z, class_vector) -> images``, frozen, in ``[0, 1]``.

Black-box extraction without data needs *some* image prior. The reference study repurposed BigGAN-ImageNet; here
every prior (BigGAN, the offline eye / face DCGANs, tiny random test generators) sits behind the same adapter so
the class-embedding search never knows which one it drives. Conditional generators take a class vector (one-hot
during their training; a free, learnable embedding in the attack); unconditional ones take none
(``class_dim == 0``) and are steered through their latent only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn


class ImageGenerator(nn.Module, ABC):
    """Frozen pretrained image generator behind one interface.

    Attributes:
        z_dim: latent size.
        class_dim: length of the class vector (0 for unconditional generators).
        size: native output height = width in pixels.
        z_scale: std of the latent the generator was trained with (or its truncation), used by :meth:`sample_z`.
    """

    z_dim: int
    class_dim: int
    size: int
    z_scale: float = 1.0
    draws_any_size: bool = False  # procedural priors take ``size=`` and render at it, at no loss

    def freeze(self) -> "ImageGenerator":
        """Eval mode (dropout off, BN running stats) and no parameter gradients: the prior is never trained.

        Weights go channels-last: oneDNN's (transposed) convolutions run about 1.3x faster on the CPU that way, with
        the same results up to float rounding."""
        frozen = self.eval().requires_grad_(False)
        return frozen.to(memory_format=torch.channels_last)  # type: ignore[return-value]

    def train(self, mode: bool = True) -> "ImageGenerator":
        # The priors carry dropout / batch-norm layers that must stay in inference mode whatever callers do.
        return super().train(False)  # type: ignore[return-value]

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=generator) * self.z_scale

    def one_hot(self, index: torch.Tensor) -> torch.Tensor:
        """The class vector a conditional generator was trained with, for generator class ``index``."""
        if self.class_dim == 0:
            return torch.zeros(index.numel(), 0)
        return nn.functional.one_hot(index % self.class_dim, self.class_dim).float()

    def forward(self, z: torch.Tensor, class_vector: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(N, 3, size, size)`` in ``[0, 1]``; differentiable in ``z`` and ``class_vector``."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"{type(self).__name__} expects z of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        if self.class_dim:
            if class_vector is None or class_vector.shape != (z.shape[0], self.class_dim):
                got = None if class_vector is None else tuple(class_vector.shape)
                raise ValueError(f"{type(self).__name__} expects class vectors of shape ({z.shape[0]}, "
                                 f"{self.class_dim}), got {got}")
        out = self._generate(z, class_vector)
        return (out.float() + 1).mul(0.5).clamp(0, 1)

    @staticmethod
    def run_layers(layers: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
        """``layers(x)``, except that under CPU bf16 autocast the layers fed at most 4x4 pixels run in float32.

        A DCGAN's first transposed convolutions (many channels, few pixels) ran ~2x *slower* in oneDNN's bf16 than
        in float32 (eye DCGAN, 1024 -> 512 channels at 4x4: 9.2 vs 4.1 ms of CPU per image), the later ones ~2.5x
        faster; keeping the first ones exact saves ~25% of the prior's time and is never less precise."""
        for layer in layers:
            if x.shape[-1] <= 4 and x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
                with torch.autocast("cpu", enabled=False):
                    x = layer(x.float())
            else:
                x = layer(x)
        return x

    @abstractmethod
    def _generate(self, z: torch.Tensor, class_vector: torch.Tensor | None) -> torch.Tensor:
        """Raw generator output in ``[-1, 1]`` (tanh), ``(N, 3, size, size)``."""
