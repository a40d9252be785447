"""PatchGAN discriminators (Isola et al. 2017): a logit per overlapping patch, or per pixel."""

from __future__ import annotations

import torch
from torch import nn

from translate.nets.layers import apply_spectral_norm, init_normal, norm_layer


class PatchDiscriminator(nn.Module):
    """(N, in_channels, H, W) -> (N, 1, H', W') patch logits. n_layers=3 sees 70x70 patches."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                 spectral_norm: bool = False) -> None:
        super().__init__()
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for i in range(1, n_layers + 1):
            out = ndf * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(width, out, 4, stride=stride, padding=1, bias=bias), norm_layer(norm, out),
                       nn.LeakyReLU(0.2, True)]
            width = out
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.body = nn.Sequential(*layers)
        init_normal(self)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class PixelDiscriminator(nn.Module):
    """1x1 convolutions: (N, in_channels, H, W) -> (N, 1, H, W), a logit per pixel (colour statistics only)."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, norm: str = "instance", spectral_norm: bool = False
                 ) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_channels, ndf, 1), nn.LeakyReLU(0.2, True),
                                  nn.Conv2d(ndf, ndf * 2, 1, bias=norm != "batch"), norm_layer(norm, ndf * 2),
                                  nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * 2, 1, 1))
        init_normal(self)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
