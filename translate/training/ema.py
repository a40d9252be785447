"""Exponential moving average of a network's weights (e.g. the generator used for sampling)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps `average` = a frozen copy of `net` whose parameters track it.

    After step t (counted from 0) each parameter is updated as
        avg <- d_t * avg + (1 - d_t) * param,   d_t = min(decay, (1 + t) / (10 + t)),
    the warm-up keeping early averages from clinging to the random initialisation. Buffers (e.g.
    batch-norm running statistics) are copied, not averaged.
    """

    def __init__(self, net: nn.Module, decay: float) -> None:
        self.decay = decay
        self.average = copy.deepcopy(net).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, net: nn.Module, step: int) -> None:
        d = self.decay_at(step)
        averages, params = list(self.average.parameters()), list(net.parameters())
        if len(averages) != len(params):
            raise ValueError(f"EMA of a net with {len(averages)} parameters updated from one with {len(params)}")
        # one multi-tensor launch on CUDA instead of one per parameter; the CPU runs the same per-tensor lerp
        torch._foreach_lerp_(averages, [p.detach() for p in params], 1.0 - d)
        for avg_buf, buf in zip(self.average.buffers(), net.buffers(), strict=True):
            avg_buf.copy_(buf)
