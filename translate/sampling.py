"""Sampling from generation models: seeded grids, latent interpolation and latent vector arithmetic."""

from __future__ import annotations

import re

import torch
from torch import nn

from translate.errors import ConfigError
from translate.model_spec import ModelSpec

SEED_RANGE = (-(2**63), 2**64 - 1)


def latents(spec: ModelSpec, seeds: list[int]) -> torch.Tensor:
    """(len(seeds), latent_dim) standard normal vectors, each fixed by its seed (an integer PyTorch's
    generator takes: -2**63 to 2**64 - 1)."""
    for seed in seeds:
        if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
            shown = seed if abs(seed) < 10**20 else f"of {len(str(abs(seed)))} digits"
            raise ConfigError(f"seed {shown} is out of range; seeds are integers from -2**63 to 2**64 - 1")
    return torch.stack([torch.randn(spec.latent_dim, generator=torch.Generator().manual_seed(s)) for s in seeds])


def class_labels(spec: ModelSpec, label: str | None, n: int) -> torch.Tensor | None:
    """Labels for a conditional model: all `label` (a class name or index), or cycling through every class."""
    if not spec.labels:
        if label is not None:
            raise ConfigError("--label: this model is not class-conditional")
        return None
    if label is None:
        return torch.arange(n) % len(spec.labels)
    if label in spec.labels:
        return torch.full((n,), spec.labels.index(label))
    raise ConfigError(f"--label {label!r}: not one of this model's classes ({', '.join(spec.labels)})")


def strip_latents(spec: ModelSpec, z: torch.Tensor, label: str | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Latents and labels for a strip (interpolation or arithmetic, z: (steps, latent_dim)).

    Seeds pick the latents, not the class: a conditional model draws the strip in `label`'s class, or
    without one once per class (one row each), so `--interpolate 3 7` is not ten pictures of class 0.
    """
    if not spec.labels or label is not None:
        labels = class_labels(spec, label, len(z))
        return z, labels if labels is None else torch.full_like(labels, int(labels[0]))
    k = len(spec.labels)
    return z.repeat(k, 1), torch.arange(k).repeat_interleave(len(z))


@torch.inference_mode()
def generate(net: nn.Module, spec: ModelSpec, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Images (N, C, S, S) in [0, 1] from latents (N, latent_dim)."""
    device = next(net.parameters()).device
    labels = labels.to(device) if labels is not None else None
    out = net(z.to(device), labels) if spec.labels else net(z.to(device))
    low, high = spec.value_range
    return ((out.float() - low) / (high - low)).clamp(0, 1).cpu()


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between latent vectors (White 2016), linear when they are parallel."""
    cos = torch.dot(a, b) / (a.norm() * b.norm())
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def interpolation(spec: ModelSpec, seed_a: int, seed_b: int, steps: int, spherical: bool) -> torch.Tensor:
    """(steps, latent_dim) latents from seed_a's vector to seed_b's."""
    if steps < 2:
        raise ConfigError(f"--steps must be at least 2, got {steps}")
    a, b = latents(spec, [seed_a, seed_b])
    ts = torch.linspace(0, 1, steps)
    return torch.stack([slerp(a, b, float(t)) if spherical else (1 - t) * a + t * b for t in ts])


def arithmetic(spec: ModelSpec, expression: str) -> torch.Tensor:
    """Latent vector arithmetic on seed groups, as the DCGAN paper's face arithmetic.

    expression: groups of seeds joined by + and -, e.g. "1,2,3 - 4,5,6 + 7,8,9"; each group stands for
    the mean of its seeds' latents. Returns (groups + 1, latent_dim): each group's mean, then the result.
    """
    tokens = re.findall(r"[+-]|[^+-]+", expression.replace(" ", ""))
    if tokens and tokens[0] not in "+-":
        tokens = ["+", *tokens]
    if len(tokens) % 2 or any(sign not in "+-" for sign in tokens[::2]):
        raise ConfigError(f"--arithmetic {expression!r}: expected seed groups joined by + and -, e.g. '1,2 - 3,4 + 5'")
    means, result = [], torch.zeros(spec.latent_dim)
    for sign, group in zip(tokens[::2], tokens[1::2]):
        try:
            seeds = [int(s) for s in group.split(",") if s]
        except ValueError:
            raise ConfigError(f"--arithmetic {expression!r}: {group!r} is not a list of seeds like 1,2,3") from None
        mean = latents(spec, seeds).mean(dim=0)
        means.append(mean)
        result = result + mean if sign == "+" else result - mean
    return torch.stack([*means, result])
