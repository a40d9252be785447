"""Fully connected generator and discriminator: the original GAN's networks (Goodfellow et al. 2014),
optionally class-conditional by concatenating one-hot labels (Mirza & Osindero 2014)."""

from __future__ import annotations

import torch
from torch import nn

from translate.nets.layers import apply_spectral_norm, one_hot


class MLPGenerator(nn.Module):
    """z (N, latent_dim) [+ labels (N,)] -> images (N, channels, image_size, image_size) in [-1, 1]."""

    def __init__(self, latent_dim: int = 64, image_size: int = 8, channels: int = 1, hidden: int = 256,
                 n_layers: int = 2, n_classes: int = 0, spectral_norm: bool = False) -> None:
        super().__init__()
        self.latent_dim, self.image_size, self.channels, self.n_classes = latent_dim, image_size, channels, n_classes
        layers: list[nn.Module] = []
        width = latent_dim + n_classes
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
            width = hidden
        layers += [nn.Linear(width, channels * image_size * image_size), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        code = one_hot(labels, self.n_classes, z)
        x = z if code is None else torch.cat([z, code], dim=1)
        return self.body(x).view(z.shape[0], self.channels, self.image_size, self.image_size)


class MLPDiscriminator(nn.Module):
    """images (N, C, S, S) [+ labels] -> logits (N,), or (logits, class logits (N, aux_classes)) with an
    auxiliary classifier (AC-GAN)."""

    def __init__(self, image_size: int = 8, channels: int = 1, hidden: int = 256, n_layers: int = 2,
                 n_classes: int = 0, aux_classes: int = 0, spectral_norm: bool = False) -> None:
        super().__init__()
        self.n_classes = n_classes
        layers: list[nn.Module] = []
        width = channels * image_size * image_size + n_classes
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2, inplace=True)]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)
        self.aux = nn.Linear(width, aux_classes) if aux_classes else None
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        flat = x.flatten(1)
        code = one_hot(labels, self.n_classes, flat)
        features = self.body(flat if code is None else torch.cat([flat, code], dim=1))
        logits = self.head(features).squeeze(1)
        return logits if self.aux is None else (logits, self.aux(features))
