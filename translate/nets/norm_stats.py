"""Instance norm with statistics shared across many images (the frames of a clip, the tiles of a photo).

`nn.InstanceNorm2d` normalises each image by its own per-channel mean and variance. Across the frames of a
clip those statistics wobble with the content, and the output's tone wobbles with them: flicker. Here
every instance norm of a net can first collect statistics pooled over a set of images and then normalise
every later input by those, through forward hooks, so the net's weights and code stay untouched.

Pooling weighs each image equally: mean = average of the images' means; variance = average of the images'
mean squares minus the square of that mean (the variance of all their pixels taken together). While
collecting, each image still runs with its own statistics, so deeper layers see inputs normalised per
image; for images alike enough to share statistics at all, the difference is small.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def instance_norms(net: nn.Module) -> list[nn.InstanceNorm2d]:
    """The instance norms of `net` that compute statistics from their input (not from tracked averages)."""
    return [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d) and not m.track_running_stats]


class SharedNormStats:
    """Pooled per-channel statistics for every instance norm of `net`.

    with stats.collecting(): run the net on the images to pool (outputs unchanged).
    with stats.frozen(): every instance norm normalises by the pooled statistics instead of its input's.
    """

    def __init__(self, net: nn.Module) -> None:
        self.layers = instance_norms(net)
        self._sum: dict[int, torch.Tensor] = {}
        self._sum_sq: dict[int, torch.Tensor] = {}
        self._count: dict[int, int] = {}

    def __len__(self) -> int:
        """How many images were pooled (0 before collecting)."""
        return min(self._count.values(), default=0)

    @contextmanager
    def collecting(self) -> Iterator[SharedNormStats]:
        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            x = inputs[0].detach().float()
            i = id(module)
            mean, mean_sq = x.mean(dim=(2, 3)).sum(0), (x * x).mean(dim=(2, 3)).sum(0)
            self._sum[i] = self._sum[i] + mean if i in self._sum else mean
            self._sum_sq[i] = self._sum_sq[i] + mean_sq if i in self._sum_sq else mean_sq
            self._count[i] = self._count.get(i, 0) + x.shape[0]

        with _hooks(self.layers, hook):
            yield self

    def statistics(self, layer: nn.InstanceNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, variance), each (C,) float32, pooled over the collected images for `layer`."""
        i = id(layer)
        if not self._count.get(i):
            raise RuntimeError("no statistics collected yet: run the net inside collecting() first")
        mean = self._sum[i] / self._count[i]
        return mean, (self._sum_sq[i] / self._count[i] - mean * mean).clamp_min(0.0)

    @contextmanager
    def frozen(self) -> Iterator[SharedNormStats]:
        pooled = {id(m): self.statistics(m) for m in self.layers}

        def hook(module: nn.InstanceNorm2d, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
            mean, var = (t.to(inputs[0].device)[None, :, None, None] for t in pooled[id(module)])
            y = (inputs[0].float() - mean) * torch.rsqrt(var + module.eps)
            if module.affine:
                y = y * module.weight.float()[None, :, None, None] + module.bias.float()[None, :, None, None]
            return y.to(output.dtype)

        with _hooks(self.layers, hook):
            yield self


@contextmanager
def _hooks(layers: list[nn.Module], hook) -> Iterator[None]:
    handles = [m.register_forward_hook(hook) for m in layers]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
