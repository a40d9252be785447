"""The U-Net generator of pix2pix (Isola et al. 2017).

An encoder of stride-2 4x4 convolutions (LeakyReLU 0.2) down to 1x1 and a mirrored decoder of transposed
convolutions (ReLU) whose every level is concatenated with the encoder level of the same size, so fine
detail skips the bottleneck. Dropout 0.5 in the decoder levels just outside the innermost one (three in
unet_256, two in unet_128) is pix2pix's noise source during training; inference runs without it.
unet_256 has 8 levels (256 -> 1), unet_128 has 7. Inputs and outputs in [-1, 1]; height and width must
be multiples of 2**num_downs.
"""

from __future__ import annotations

import torch
from torch import nn

from translate.nets.layers import init_normal, norm_layer


class UnetGenerator(nn.Module):
    """(N, in_channels, H, W) in [-1, 1] -> (N, out_channels, H, W) in [-1, 1]."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", dropout: float = 0.5) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be at least 5, got {num_downs}")
        self.size_multiple = 2**num_downs
        widths = [ngf * min(2**i, 8) for i in range(num_downs)]  # 64, 128, 256, 512, 512, ...
        bias = norm != "batch"
        self.down = nn.ModuleList()
        for i, width in enumerate(widths):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2, True)]
            layers.append(nn.Conv2d(in_channels if i == 0 else widths[i - 1], width, 4, 2, 1, bias=bias))
            if 0 < i < num_downs - 1:  # no norm on the outermost and the 1x1 innermost level
                layers.append(norm_layer(norm, width))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for i in reversed(range(num_downs)):
            inner = i == num_downs - 1
            source = widths[i] if inner else widths[i] * 2  # concatenated skip doubles the channels
            target = out_channels if i == 0 else widths[i - 1]
            layers = [nn.ReLU(True), nn.ConvTranspose2d(source, target, 4, 2, 1, bias=bias or i == 0)]
            if i == 0:
                layers.append(nn.Tanh())
            else:
                layers.append(norm_layer(norm, target))
                if dropout and 4 <= i < num_downs - 1:  # the 512-wide levels under the innermost
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        init_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = self.up[0](skips.pop())
        for layer in self.up[1:]:
            x = layer(torch.cat([x, skips.pop()], dim=1))
        return x
