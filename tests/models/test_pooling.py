"""Token pooling of the small transformers: max by default (avg did not learn the benchmark's small objects)."""

from __future__ import annotations

import pytest
import torch

from vidsteal.models import create_model


def test_small_swin_pools_tokens_with_max_by_default():
    torch.manual_seed(0)
    model = create_model("test_swin3d", num_classes=3).eval()
    x = torch.rand(2, 3, 4, 16, 16)
    sw = model.swin
    tokens = sw.norm(sw.features(sw.patch_embed(model.norm(x))))  # (B, T, H, W, C)
    expected = sw.head(tokens.amax(dim=(1, 2, 3)))
    assert torch.allclose(model(x), expected, atol=1e-6)
    avg = create_model("test_swin3d", num_classes=3, pool="avg").eval()
    avg.load_state_dict(model.state_dict())
    assert torch.allclose(avg(x), sw.head(tokens.mean(dim=(1, 2, 3))), atol=1e-6)
    with pytest.raises(ValueError, match="pool"):
        create_model("test_swin3d", num_classes=3, pool="sum")


def test_frame_vit_pools_patch_tokens_with_max_by_default():
    model = create_model("test_frame_vit", num_classes=3, img_size=16)
    assert model.backbone.global_pool == "max"
    assert create_model("test_frame_vit", num_classes=3, img_size=16, global_pool="avg").backbone.global_pool == "avg"


def test_frame_vit_takes_frames_of_the_victims_size():
    import torch

    model = create_model("test_frame_vit", num_classes=3)  # built for 32 px; a victim of 40 px (5 x 5 patches of 8)
    assert model(torch.rand(2, 3, 4, 40, 40)).shape == (2, 3)
