"""Winograd F(4x4, 3x3) convolutions: the same results and gradients as a direct convolution, and used only
where they are meant to be (training wide layers on the CPU)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from translate.nets import GENERATORS
from translate.nets.winograd import Conv3x3, direct_convolutions, winograd_conv3x3


@pytest.mark.parametrize("shape", [(2, 5, 34, 34), (1, 3, 13, 22), (2, 4, 3, 3), (1, 2, 7, 41)])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_direct_convolution_and_its_gradients(shape, bias):
    """In float64 the transform-space maths is exact to rounding, any size (partial tiles are padded)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(6, shape[1], 3, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(6, dtype=torch.float64, generator=gen, requires_grad=True) if bias else None
    ours, direct = winograd_conv3x3(x, w, b), F.conv2d(x, w, b)
    assert ours.shape == direct.shape == (shape[0], 6, shape[2] - 2, shape[3] - 2)
    torch.testing.assert_close(ours, direct, rtol=0, atol=1e-11)
    upstream = torch.randn(direct.shape, dtype=torch.float64, generator=gen)
    inputs = (x, w, b) if bias else (x, w)
    for got, want in zip(torch.autograd.grad(ours, inputs, upstream), torch.autograd.grad(direct, inputs, upstream)):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_float32_error_is_small():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 128, 18, 18, generator=gen)
    w = torch.randn(128, 128, 3, 3, generator=gen) * 0.05
    torch.testing.assert_close(winograd_conv3x3(x, w), F.conv2d(x, w), rtol=1e-4, atol=1e-4)


def test_conv3x3_takes_the_winograd_path_only_when_training_wide_layers():
    gen = torch.Generator().manual_seed(2)
    wide, thin = Conv3x3(128, 128), Conv3x3(64, 64)
    x_wide, x_thin = torch.randn(1, 128, 10, 10, generator=gen), torch.randn(1, 64, 10, 10, generator=gen)
    assert torch.equal(wide(x_wide), winograd_conv3x3(x_wide, wide.weight, wide.bias))
    assert not torch.equal(wide(x_wide), F.conv2d(x_wide, wide.weight, wide.bias))  # a different algorithm ran
    with torch.no_grad():  # inference: direct
        assert torch.equal(wide(x_wide), F.conv2d(x_wide, wide.weight, wide.bias))
    with direct_convolutions():
        assert torch.equal(wide(x_wide), F.conv2d(x_wide, wide.weight, wide.bias))
    assert torch.equal(thin(x_thin), F.conv2d(x_thin, thin.weight, thin.bias))  # under 128 channels: direct


def test_generator_parameters_are_unchanged_by_the_fast_path():
    """Conv3x3 is an nn.Conv2d: the generator's state dict (and so every saved model) keeps its keys."""
    net = GENERATORS["resnet"](ngf=32, n_blocks=2, upsample="resize")
    keys = set(net.state_dict())
    assert "body.10.body.1.weight" in keys and "body.10.body.1.bias" in keys
    assert all(isinstance(m, torch.nn.Conv2d) for m in net.modules() if isinstance(m, Conv3x3))
    x = torch.rand(1, 3, 36, 36) * 2 - 1
    with direct_convolutions():
        direct = net(x)
    torch.testing.assert_close(net(x), direct, rtol=1e-4, atol=1e-4)
