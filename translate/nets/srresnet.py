"""SRResNet super-resolution generator (Ledig et al. 2017) and the SRGAN discriminator.

Generator: 9x9 stem + PReLU, residual blocks (conv-[BN]-PReLU-conv-[BN]), a conv and the global skip,
PixelShuffle x2 stages (one x3 stage for scale 3), 9x9 output conv, optionally plus a bicubic
upscaling of the input (bicubic_skip). Batch norm is off by default
(Lim et al. 2017 showed it hurts PSNR and it makes small-batch training unstable). Works on LR
pixels in [0, 1] and returns HR pixels in about [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from translate.nets.layers import apply_spectral_norm

SCALES = (2, 3, 4, 8)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, batch_norm: bool) -> None:
        super().__init__()
        norm = (lambda: nn.BatchNorm2d(channels)) if batch_norm else nn.Identity
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), norm(), nn.PReLU(channels),
                                  nn.Conv2d(channels, channels, 3, padding=1), norm())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """LR (N, C, h, w) in [0, 1] -> HR (N, C, h*scale, w*scale)."""

    def __init__(self, scale: int = 4, n_blocks: int = 16, channels: int = 64, in_channels: int = 3,
                 batch_norm: bool = False, bicubic_skip: bool = False) -> None:
        super().__init__()
        self.bicubic_skip = bicubic_skip
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(map(str, SCALES))}, got {scale}")
        self.scale = scale
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 9, padding=4), nn.PReLU(channels))
        self.blocks = nn.Sequential(*[ResidualBlock(channels, batch_norm) for _ in range(n_blocks)])
        self.fuse = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1),
                                  nn.BatchNorm2d(channels) if batch_norm else nn.Identity())
        factors = [3] if scale == 3 else [2] * (scale.bit_length() - 1)
        self.upsample = nn.Sequential(*[
            nn.Sequential(nn.Conv2d(channels, channels * f * f, 3, padding=1), nn.PixelShuffle(f), nn.PReLU(channels))
            for f in factors
        ])
        self.out = nn.Conv2d(channels, in_channels, 9, padding=4)
        if bicubic_skip:  # start close to plain bicubic upscaling
            with torch.no_grad():
                self.out.weight.mul_(0.1)
                self.out.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.stem(x)
        features = features + self.fuse(self.blocks(features))
        out = self.out(self.upsample(features))
        if self.bicubic_skip:  # learn only the residual over bicubic (Kim et al. 2016): much faster to train
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out


class SRDiscriminator(nn.Module):
    """The SRGAN discriminator: eight 3x3 convs (stride 1/2 alternating, 64 -> 512 channels), LeakyReLU 0.2,
    batch norm after the first; adaptive pooling instead of a fixed 96x96 input so any crop size works.
    images (N, C, H, W) in [0, 1] -> logits (N,)."""

    def __init__(self, in_channels: int = 3, channels: int = 64, batch_norm: bool = True,
                 spectral_norm: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width_in = in_channels
        for i in range(8):
            width = channels * 2 ** (i // 2)
            layers.append(nn.Conv2d(width_in, width, 3, stride=1 + i % 2, padding=1))
            if i > 0 and batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            width_in = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(6), nn.Flatten(), nn.Linear(width_in * 36, 1024),
                                  nn.LeakyReLU(0.2, inplace=True), nn.Linear(1024, 1))
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        """logits (N,), or (logits, [feature map after each conv block]) for feature matching."""
        if not return_features:
            return self.head(self.features(x)).squeeze(1)
        maps = []
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                maps.append(x)
        return self.head(x).squeeze(1), maps
