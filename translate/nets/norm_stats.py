"""Instance norm (and GroupNorm) with statistics shared across many images: the frames of a clip, the tiles
of a photo.

`nn.InstanceNorm2d` normalises each image by its own per-channel mean and variance. Across the frames of a
clip those statistics wobble with the content, and the output's tone wobbles with them: flicker. Across the
tiles of a large photo each tile gets its own tone: bands. Here every such norm layer of a net can first
collect statistics pooled over a set of images and then normalise every later input by those, so the
net's weights stay untouched.

Pooling takes all the collected values of a channel together: mean and variance of every pixel of every
image (for the equal-sized frames of a clip: the average of the frames' means, and the average of their
variances plus the variance of their means). collect_until() may count only a region of each input (a
tile counts the part of the image it owns, so overlaps are not counted twice). While collecting, the
layers keep their forward: their own per-image statistics, or pooled ones for the layers a frozen() holds,
which is how a tiled run measures each layer with the layers before it already normalised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


def norm_layers(net: nn.Module) -> list[nn.Module]:
    """The layers of `net` that normalise by statistics of their input: instance norms without tracked
    averages, and group norms."""
    return [m for m in net.modules()
            if (isinstance(m, nn.InstanceNorm2d) and not m.track_running_stats) or isinstance(m, nn.GroupNorm)]


Region = tuple[float, float, float, float]
"""(top, bottom, left, right) as fractions of an input's height and width."""


def _groups(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """x (N, C, H, W) -> (N, G, C/G, H, W): the values each statistic is taken over."""
    groups = layer.num_groups if isinstance(layer, nn.GroupNorm) else x.shape[1]
    return x.reshape(x.shape[0], groups, -1, *x.shape[2:])


class SharedNormStats:
    """Pooled statistics for every norm layer of `net` (`norm_layers`).

    with stats.collecting(): run the net on the images to pool (outputs unchanged); collecting again adds
    more images, clear() starts over. collect_until() pools one layer only and stops the net there.
    with stats.frozen(): every norm layer (or those given) normalises by the pooled statistics instead of
    its input's.
    len(stats) is the number of images pooled; bool(stats) says whether the net has layers to share.
    """

    def __init__(self, net: nn.Module) -> None:
        self.layers = norm_layers(net)
        self.clear()

    def clear(self) -> None:
        # float64 sums: the variance comes from a difference (mean of squares less a square), which float32
        # would round badly when a channel's mean is large beside its spread
        self._sum: dict[int, torch.Tensor] = {}
        self._sum_sq: dict[int, torch.Tensor] = {}
        self._count: dict[int, int] = {}  # values summed per group
        self._images: dict[int, int] = {}

    def __bool__(self) -> bool:
        return bool(self.layers)

    def __len__(self) -> int:
        return min(self._images.values(), default=0)

    def _add(self, layer: nn.Module, x: torch.Tensor, region: Region | None) -> None:
        """Pool the statistics of `x` (a layer's input), or of its `region`."""
        if region is not None:
            h, w = x.shape[2:]
            top, bottom, left, right = (round(f * n) for f, n in zip(region, (h, h, w, w)))
            x = x[:, :, top:bottom, left:right]
        if not x.numel():
            return
        # each input's own mean and variance first (accurate in float32), then pooled in float64
        var, mean = torch.var_mean(_groups(layer, x.detach().float()), dim=(2, 3, 4), correction=0)
        mean, var = mean.double(), var.double()
        n = x[0, 0].numel() * (x.shape[1] // mean.shape[1])  # values per group and input
        i = id(layer)
        self._sum[i] = self._sum.get(i, 0) + n * mean.sum(0)
        self._sum_sq[i] = self._sum_sq.get(i, 0) + n * (var + mean * mean).sum(0)
        self._count[i] = self._count.get(i, 0) + n * mean.shape[0]
        self._images[i] = self._images.get(i, 0) + mean.shape[0]

    @contextmanager
    def collecting(self) -> Iterator[SharedNormStats]:
        """Pool the statistics of every input the net runs on meanwhile."""
        handles = [m.register_forward_hook(lambda m, inputs, _: self._add(m, inputs[0], None)) for m in self.layers]
        try:
            yield self
        finally:
            for h in handles:
                h.remove()

    def collect_until(self, layer: nn.Module, run: Callable[[], object], region: Region | None = None) -> None:
        """Call `run` (a forward of the net) only as far as `layer`: pool the statistics of that layer's input
        (or its `region`) and stop there, sparing the deeper layers' work."""

        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            self._add(module, inputs[0], region)
            raise _Reached

        handle = layer.register_forward_pre_hook(hook)
        try:
            run()
        except _Reached:
            pass
        finally:
            handle.remove()

    def statistics(self, layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, variance), each (G,) float32 (G: the channels of an instance norm, the groups of a group
        norm), pooled over the collected images for `layer`."""
        i = id(layer)
        if not self._count.get(i):
            raise RuntimeError("no statistics collected yet: run the net inside collecting() first")
        mean = self._sum[i] / self._count[i]
        var = (self._sum_sq[i] / self._count[i] - mean * mean).clamp_min(0.0)
        return mean.float(), var.float()

    @contextmanager
    def frozen(self, layers: list[nn.Module] | None = None) -> Iterator[SharedNormStats]:
        """Normalise by the pooled statistics in `layers` (default: every norm layer); the others keep
        their own."""
        layers = self.layers if layers is None else layers
        pooled = {id(m): self.statistics(m) for m in layers}

        def normalise(layer: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
            def forward(x: torch.Tensor) -> torch.Tensor:
                mean, var = (t.to(x.device)[None, :, None, None, None] for t in pooled[id(layer)])
                y = ((_groups(layer, x.float()) - mean) * torch.rsqrt(var + layer.eps)).reshape(x.shape)
                if layer.weight is not None:
                    y = y * layer.weight.float()[:, None, None] + layer.bias.float()[:, None, None]
                return y.to(x.dtype)
            return forward

        # the layers' forward is replaced, not hooked: a hook would run the layer's own normalisation first
        for layer in layers:
            layer.forward = normalise(layer)
        try:
            yield self
        finally:
            for layer in layers:
                del layer.forward


class _Reached(Exception):
    """Raised by collect_until's hook to leave the net's forward early."""
