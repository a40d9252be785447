"""Building blocks shared by the network families."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

NORMS = ("batch", "instance", "layer", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A 2-d normalisation by name; "layer" normalises over (C, H, W) per sample (GroupNorm with 1 group)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise KeyError(f"unknown norm {kind!r}; choose one of {', '.join(NORMS)}")


def apply_spectral_norm(net: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every conv and linear layer of `net`."""
    for name, child in list(net.named_children()):
        if isinstance(child, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            setattr(net, name, spectral_norm(child))
        else:
            apply_spectral_norm(child)
    return net


def init_normal(net: nn.Module, std: float = 0.02) -> nn.Module:
    """Weights N(0, std), norm scales N(1, std), biases 0 (Radford et al. 2016; Isola et al. 2017)."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.InstanceNorm2d | nn.GroupNorm) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return net


class MinibatchStdDev(nn.Module):
    """Appends one feature map: the mean over features of the per-feature std across the (group of the)
    batch, letting D see a lack of variety (Karras et al. 2018, ProGAN)."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        # in fp32 under autocast too: 1e-8 is 0 in fp16, and sqrt's gradient at 0 (a collapsed batch, what
        # this layer is for) is infinite
        y = x.float().view(g, n // g, c, h, w)
        std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (n // g,)
        feature = std.view(1, n // g, 1, 1, 1).expand(g, n // g, 1, h, w).reshape(n, 1, h, w)
        return torch.cat([x, feature.to(x.dtype)], dim=1)


class SelfAttention(nn.Module):
    """SAGAN self-attention over all positions (Zhang et al. 2019); gamma starts at 0 so the block begins
    as the identity."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (N, HW, C')
        k = self.key(x).flatten(2)  # (N, C', HW)
        attention = torch.softmax(q @ k, dim=-1)  # (N, HW, HW)
        v = self.value(x).flatten(2)  # (N, C, HW)
        out = (v @ attention.transpose(1, 2)).view(n, c, h, w)
        return x + self.gamma * out


def one_hot(labels: torch.Tensor | None, n_classes: int, like: torch.Tensor) -> torch.Tensor | None:
    """(N,) integer labels -> (N, n_classes) one-hot in `like`'s dtype and device; None when unconditional."""
    if n_classes == 0:
        return None
    if labels is None:
        raise ValueError("this network is class-conditional: pass labels")
    return nn.functional.one_hot(labels.long(), n_classes).to(dtype=like.dtype, device=like.device)
