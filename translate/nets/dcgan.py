"""DCGAN generator and discriminator (Radford et al. 2016) for 16x16, 32x32 and 64x64 images.

Strided (transposed) convolutions, batch norm everywhere except G's output and D's input, ReLU in G,
LeakyReLU 0.2 in D, tanh output. Options: class conditioning (one-hot labels concatenated to z, and as
constant label maps to D's input), an AC-GAN auxiliary classifier, spectral norm, a SAGAN
self-attention block at one resolution, and a minibatch standard-deviation feature in D.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from translate.nets.layers import MinibatchStdDev, SelfAttention, apply_spectral_norm, init_normal, norm_layer, one_hot

SIZES = (16, 32, 64)


def _stages(image_size: int) -> int:
    if image_size not in SIZES:
        raise ValueError(f"DCGAN image_size must be one of {', '.join(map(str, SIZES))}, got {image_size}")
    return int(math.log2(image_size)) - 2


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) [+ labels (N,)] -> images (N, channels, image_size, image_size) in [-1, 1]."""

    def __init__(self, latent_dim: int = 100, image_size: int = 64, channels: int = 3, ngf: int = 64,
                 n_classes: int = 0, spectral_norm: bool = False, self_attention: int = 0) -> None:
        super().__init__()
        self.latent_dim, self.image_size, self.channels, self.n_classes = latent_dim, image_size, channels, n_classes
        n_up = _stages(image_size)
        width = ngf * 2 ** (n_up - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim + n_classes, width, 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        resolution = 4
        for _ in range(n_up - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2),
                       nn.ReLU(inplace=True)]
            width, resolution = width // 2, resolution * 2
            if resolution == self_attention:
                layers.append(SelfAttention(width))
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        init_normal(self)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        code = one_hot(labels, self.n_classes, z)
        x = z if code is None else torch.cat([z, code], dim=1)
        return self.body(x[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """images (N, C, S, S) [+ labels] -> logits (N,), or (logits, class logits) with aux_classes > 0."""

    def __init__(self, image_size: int = 64, channels: int = 3, ndf: int = 64, norm: str = "batch",
                 n_classes: int = 0, aux_classes: int = 0, spectral_norm: bool = False,
                 minibatch_stddev: bool = False, self_attention: int = 0) -> None:
        super().__init__()
        self.n_classes = n_classes
        n_down = _stages(image_size)
        layers: list[nn.Module] = [nn.Conv2d(channels + n_classes, ndf, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        width, resolution = ndf, image_size // 2
        if resolution == self_attention:
            layers.append(SelfAttention(width))
        for _ in range(n_down - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=norm == "none"), norm_layer(norm, width * 2),
                       nn.LeakyReLU(0.2, inplace=True)]
            width, resolution = width * 2, resolution // 2
            if resolution == self_attention:
                layers.append(SelfAttention(width))
        if minibatch_stddev:
            layers.append(MinibatchStdDev())
            width += 1
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, 1, 4, 1, 0)
        self.aux = nn.Linear(width * 16, aux_classes) if aux_classes else None
        init_normal(self)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        code = one_hot(labels, self.n_classes, x)
        if code is not None:
            x = torch.cat([x, code[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])], dim=1)
        features = self.body(x)
        logits = self.head(features).flatten()
        return logits if self.aux is None else (logits, self.aux(features.flatten(1)))
