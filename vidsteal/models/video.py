"""Full-size torchvision video models: Video Swin-T (the reference K400 victim), R3D-18 and R(2+1)D-18 (3D students).

Each is torchvision's own architecture behind :class:`TorchvisionVideo`, which normalises ``[0, 1]`` clips with
the statistics the published Kinetics-400 weights were trained with. Those weights load from a local file in
torchvision's checkpoint layout (the state dict of torchvision's model, e.g. ``swin3d_t-7615ae03.pth``) with
:func:`vidsteal.models.load_weights`; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import video as tv
from torchvision.models.video.swin_transformer import SwinTransformer3d

from vidsteal.models.checkpoints import load_into, read_state_dict
from vidsteal.models.layers import Normalize
from vidsteal.models.registry import register_model

# Statistics of torchvision's KINETICS400_V1 weights: Swin-T was ported with ImageNet's, the ResNets with Kinetics'.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
KINETICS_MEAN, KINETICS_STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)


class TorchvisionVideo(nn.Module):
    """A torchvision video classifier (``net``) fed normalised ``(B, C, T, H, W)`` clips.

    Args:
        net: the torchvision model; its state dict, under the prefix ``net.``, is the checkpoint layout.
        classifier: key prefix of the final layer inside ``net`` (``head`` or ``fc``), for ``skip_classifier``.
    """

    def __init__(self, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...], classifier: str) -> None:
        super().__init__()
        self.norm = Normalize(mean, std)
        self.net = net
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(x))

    def load_reference_weights(self, path: str | Path, skip_classifier: bool = False) -> None:
        """Load a torchvision checkpoint (``.pth`` or ``.safetensors`` of torchvision's state dict)."""
        state = read_state_dict(path)
        if skip_classifier:
            own = self.net.state_dict()
            state = {k: v for k, v in state.items() if not k.startswith(self.classifier + ".")}
            state |= {k: v for k, v in own.items() if k.startswith(self.classifier + ".")}
        load_into(self.net, state, str(path), f"torchvision {type(self.net).__name__}")


@register_model()
def swin3d_t(num_classes: int = 400) -> TorchvisionVideo:
    """Video Swin-T (Liu et al., 2022, https://arxiv.org/abs/2106.13230): 28M parameters, 32x224x224 native."""
    net = tv.swin3d_t(weights=None, num_classes=num_classes)
    return TorchvisionVideo(net, IMAGENET_MEAN, IMAGENET_STD, "head")


@register_model()
def r3d_18(num_classes: int = 400) -> TorchvisionVideo:
    """R3D-18 (Tran et al., 2018, https://arxiv.org/abs/1711.11248): 33M parameters, 16x112x112 native."""
    return TorchvisionVideo(tv.r3d_18(weights=None, num_classes=num_classes), KINETICS_MEAN, KINETICS_STD, "fc")


@register_model()
def r2plus1d_18(num_classes: int = 400) -> TorchvisionVideo:
    """R(2+1)D-18 (Tran et al., 2018): factorised 3D convolutions, 31M parameters, 16x112x112 native."""
    net = tv.r2plus1d_18(weights=None, num_classes=num_classes)
    return TorchvisionVideo(net, KINETICS_MEAN, KINETICS_STD, "fc")


@register_model()
def test_swin3d_t(num_classes: int) -> TorchvisionVideo:
    """Toy-width Swin3D in the same wrapper and checkpoint layout as ``swin3d_t``, for tests."""
    net = SwinTransformer3d(patch_size=[2, 4, 4], embed_dim=8, depths=[1, 1], num_heads=[1, 1],
                            window_size=[2, 4, 4], stochastic_depth_prob=0.0, num_classes=num_classes)
    return TorchvisionVideo(net, IMAGENET_MEAN, IMAGENET_STD, "head")


def kinetics400_categories() -> list[str]:
    """The 400 class names of torchvision's Kinetics weights, in label order (shipped with torchvision, offline)."""
    return list(tv.Swin3D_T_Weights.KINETICS400_V1.meta["categories"])
