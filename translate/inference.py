"""The Translator: the one place that turns an image into a model's output.

It pads inputs to the network's size multiple (reflection), runs large images in overlapping tiles
blended with a smooth window, and crops the result back, so any size works.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from translate.checkpoint import ModelSpec, load_model
from translate.data.convert import to_pixels, to_tensor
from translate.training.loop import pick_device


class Translator:
    """Runs an image-to-image model (translation or super-resolution) on pixel arrays.

    tile: largest input side processed in one piece (0 = never tile); tile_overlap: input pixels
    shared by neighbouring tiles, where their outputs are cross-faded.
    """

    def __init__(self, net: nn.Module, spec: ModelSpec, device: torch.device, tile: int = 512,
                 tile_overlap: int = 32) -> None:
        if spec.task not in ("translation", "super-resolution"):
            raise ValueError(f"a Translator needs an image-to-image model, not a {spec.task} model")
        self.net, self.spec, self.device = net.to(device).eval(), spec, device
        self.tile, self.tile_overlap = tile, tile_overlap

    @classmethod
    def from_file(cls, path: str | Path, device: str = "auto", tile: int = 512, tile_overlap: int = 32,
                  task: str | tuple[str, ...] = ("translation", "super-resolution")) -> Translator:
        dev = pick_device(device)
        net, spec = load_model(path, task=task, device=dev)
        return cls(net, spec, dev, tile, tile_overlap)

    @torch.inference_mode()
    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        """(H, W, C) float pixels in [0, 1] -> (H*scale, W*scale, C) float pixels in [0, 1]."""
        x = to_tensor(pixels, self.spec.value_range)[None].to(self.device)
        y = self._run_tiled(x) if self.tile and max(x.shape[2:]) > self.tile else self._run_padded(x)
        return to_pixels(y[0], self.spec.value_range)

    def _run_padded(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        m = self.spec.size_multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        if pad_h or pad_w:
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        y = self.net(x).float()
        s = self.spec.scale
        return y[:, :, : h * s, : w * s]

    def _run_tiled(self, x: torch.Tensor) -> torch.Tensor:
        _, c, h, w = x.shape
        s, overlap = self.spec.scale, self.tile_overlap
        step = self.tile - overlap
        out = torch.zeros(1, self.spec.out_channels, h * s, w * s, device=x.device)
        weight = torch.zeros(1, 1, h * s, w * s, device=x.device)
        for top in _starts(h, self.tile, step):
            for left in _starts(w, self.tile, step):
                patch = x[:, :, top:top + self.tile, left:left + self.tile]
                y = self._run_padded(patch)
                inner = (top > 0, top + self.tile < h, left > 0, left + self.tile < w)
                window = _window(y.shape[2], y.shape[3], overlap * s, inner, y.device)
                out[:, :, top * s:top * s + y.shape[2], left * s:left * s + y.shape[3]] += y * window
                weight[:, :, top * s:top * s + y.shape[2], left * s:left * s + y.shape[3]] += window
        return out / weight


def _starts(length: int, tile: int, step: int) -> list[int]:
    """Tile origins covering [0, length): regular steps, the last one flush with the end."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def _window(h: int, w: int, overlap: int, inner: tuple[bool, bool, bool, bool], device: torch.device) -> torch.Tensor:
    """(1, 1, h, w) blending weights of one tile.

    Along each side shared with a neighbour (inner = top, bottom, left, right), the weight is 0 for the
    first quarter of the overlap (outputs there see the tile's cut edge), rises as a raised cosine
    through the middle half and is 1 beyond. Two neighbours' weights then sum to 1 across the overlap.
    Sides on the image border keep weight 1.
    """

    def profile(n: int, start: bool, end: bool) -> torch.Tensor:
        i = torch.arange(n, device=device, dtype=torch.float32)
        weight = torch.ones(n, device=device)
        margin, ramp = overlap / 4, overlap / 2
        for is_inner, distance in ((start, i + 0.5), (end, n - i - 0.5)):
            if is_inner and overlap > 0:
                t = ((distance - margin) / ramp).clamp(0.0, 1.0)
                weight = weight * (0.5 - 0.5 * torch.cos(torch.pi * t))
        return weight

    return (profile(h, inner[0], inner[1])[:, None] * profile(w, inner[2], inner[3])[None, :])[None, None]
