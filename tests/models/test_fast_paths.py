"""Speed-ups of the attacker's own compute that must not change what is computed (or only make it more exact)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from vidsteal.data.clips import to_model_input
from vidsteal.models import create_model
from vidsteal.models.generators import create_generator


def _relu_then_pool(model: nn.Module) -> nn.Module:
    """The per-frame CNN as it was built before: conv-BN-ReLU-pool (same parameters, same state-dict keys)."""
    old = copy.deepcopy(model)
    layers = list(old.backbone)
    for i, layer in enumerate(layers[:-1]):
        if isinstance(layer, nn.MaxPool2d) and isinstance(layers[i + 1], nn.ReLU):
            layers[i], layers[i + 1] = layers[i + 1], layer
    old.backbone = nn.Sequential(*layers)
    assert old.state_dict().keys() == model.state_dict().keys()
    return old


def test_per_frame_cnn_pools_before_relu_with_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    model = create_model("test_frame_cnn", num_classes=5).train()
    kinds = [type(m) for m in model.backbone]
    assert kinds[:4] == [nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.ReLU]
    old = _relu_then_pool(model)
    assert [type(m) for m in old.backbone][:4] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d]
    x = torch.rand(3, 3, 2, 16, 16)
    for bf16 in (False, True):
        results = []
        for net in (old, model):
            net.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = net(x)
            out.float().square().sum().backward()
            results.append((out.detach(), [p.grad.clone() for p in net.parameters()]))
        (out_old, grads_old), (out_new, grads_new) = results
        assert torch.equal(out_old, out_new)
        assert all(torch.equal(a, b) for a, b in zip(grads_old, grads_new))


def test_prior_keeps_its_few_pixel_layers_in_float32_under_bf16_autocast():
    prior = create_generator("test_dcgan", size=16)
    z, cls = torch.randn(3, prior.z_dim), prior.one_hot(torch.arange(3))
    seen: list[tuple[int, torch.dtype]] = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((i[0].shape[-1], o.dtype)))
             for m in prior.net if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d))]
    with torch.no_grad():
        exact = prior(z, cls)
        assert all(dtype == torch.float32 for _, dtype in seen)
        seen.clear()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fast = prior(z, cls)
    for h in hooks:
        h.remove()
    assert [(px, dtype) for px, dtype in seen] == [(1, torch.float32), (4, torch.float32), (8, torch.bfloat16),
                                                   (16, torch.bfloat16)]
    assert fast.dtype == torch.float32 and fast.shape == exact.shape == (3, 3, 16, 16)
    assert 0 < (fast - exact).abs().max() < 0.05  # bf16 where it pays, float32 where it does not
    with torch.no_grad():  # outside autocast: exactly the generator's own layer stack
        raw = prior.net(torch.cat([z, cls], 1).view(3, -1, 1, 1))
    assert torch.equal(exact, (raw + 1).mul(0.5).clamp(0, 1))


def test_per_frame_backbone_gets_channels_last_frames_whatever_the_clips_memory_order():
    torch.manual_seed(0)
    model = create_model("test_frame_cnn", num_classes=5).eval()
    seen: list[torch.Tensor] = []
    hook = model.backbone.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    uint8 = torch.randint(0, 256, (3, 2, 3, 16, 16), dtype=torch.uint8)  # (B, T, C, H, W), as stored
    view = to_model_input(uint8)  # a permuted view: frames-major memory
    outs = []
    with torch.no_grad():
        for x in (view, view.contiguous()):
            outs.append(model(x))
            assert seen[-1].is_contiguous(memory_format=torch.channels_last)
    hook.remove()
    assert not view.is_contiguous() and torch.allclose(outs[0], outs[1], atol=1e-6)


def test_3d_cnn_runs_channels_last_pooling_before_relu_with_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    model = create_model("test_c3d", num_classes=5).train()
    seen: list[torch.Tensor] = []
    hook = model.features.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    # the layout before: conv-BN-ReLU-pool per block on clips in plain (B, C, T, H, W) memory
    old = copy.deepcopy(model)
    for block in old.features:
        block[2], block[3] = block[3], block[2]
    assert [type(m) for m in old.features[0]] == [nn.Conv3d, nn.BatchNorm3d, nn.ReLU, nn.MaxPool3d]
    assert old.state_dict().keys() == model.state_dict().keys()  # old checkpoints load unchanged
    old.forward = lambda x: old.head(old.features(old.norm(x)).mean(dim=(2, 3, 4)))  # type: ignore[method-assign]
    x = torch.rand(3, 3, 4, 16, 16)
    results = []
    for net in (old, model):
        net.zero_grad()
        torch.manual_seed(1)  # the same dropout mask
        out = net(x)
        out.square().sum().backward()
        results.append((out.detach(), [p.grad.clone() for p in net.parameters()]))
    hook.remove()
    assert seen[-1].is_contiguous(memory_format=torch.channels_last_3d)
    (out_old, grads_old), (out_new, grads_new) = results
    assert torch.allclose(out_old, out_new, atol=1e-5)
    assert all(torch.allclose(a, b, rtol=1e-3, atol=1e-5) for a, b in zip(grads_old, grads_new))
    for block in model.features:  # what was measured: ReLU after the pool in every block
        assert [type(m) for m in block] == [nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d, nn.ReLU]
