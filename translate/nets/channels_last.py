"""Nets prepared for bfloat16, channels-last serving on the CPU.

oneDNN's bf16 convolutions run in the channels-last layout. PyTorch's instance norm does not keep it: it
views its (N, C, H, W) input as one (1, N*C, H, W) batch for batch norm's kernel, which for a channels-last
tensor is a copy into the contiguous layout (and the next convolution converts back). In a bf16 translator
those copies took more than half of the forward (torch.profiler, vangogh at 512x512: aten::copy_ 54%,
the convolutions 18%). For a batch of one, batch norm over (N, H, W) is instance norm, and its kernel
works in either layout, so :func:`for_channels_last` swaps it in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SingleImageInstanceNorm(nn.InstanceNorm2d):
    """nn.InstanceNorm2d (same parameters) that normalises a batch of one through batch norm's kernel: the
    same per-channel statistics over H and W, in the input's own memory layout; other batches as before."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[0] != 1 or self.track_running_stats:
            return super().forward(x)
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


def for_channels_last(net: nn.Module) -> nn.Module:
    """Swap every instance norm of `net` for a :class:`SingleImageInstanceNorm` sharing its parameters (in
    place; returns `net`)."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.InstanceNorm2d:
                swapped = SingleImageInstanceNorm(child.num_features, child.eps, child.momentum, child.affine,
                                                  child.track_running_stats)
                if child.affine:
                    swapped.weight, swapped.bias = child.weight, child.bias
                swapped.train(child.training)
                setattr(parent, name, swapped)
    return net
