"""The Translator: the one place that turns an image into a model's output (CLI, app, evaluation, benchmarks).

It reads a model file (.safetensors, run by PyTorch) or an exported .onnx file (run by onnxruntime) and:
pads inputs to the network's size multiple (reflection) and crops back, so any size works; runs large
images in overlapping tiles blended so no seam shows; keeps grayscale images gray and transparent images
transparent; and returns float pixels in [0, 1].

Tiles and normalisation: instance norm (and GroupNorm) normalise by statistics of the whole feature map, so
a tile normalised by its own statistics comes out in another tone than the same pixels in the whole image.
For PyTorch models the tiled run therefore shares one set of statistics across tiles, measured on a
downscaled copy of the whole image (translate.nets.norm_stats); an .onnx graph cannot be changed that way
and keeps per-tile statistics (larger tiles make the bands fainter).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from translate.checkpoint import check_task, load_model
from translate.data.convert import to_gray, to_pixels, to_tensor
from translate.data.io import DecodedImage
from translate.data.resize import bicubic_resize
from translate.device import pick_device
from translate.errors import ConfigError
from translate.model_spec import ModelSpec
from translate.nets.norm_stats import SharedNormStats

IMAGE_TASKS = ("translation", "super-resolution")
STATS_SIDE = 1024
"""Longer side of the downscaled whole image whose normalisation statistics start a shared-statistics run."""

Progress = Callable[[int, int], None]
"""Called as progress(done, total) after each unit of work (a tile or a statistics pass)."""


def recommended_tile(spec: ModelSpec) -> int:
    """Input tile side for large images: bounded memory, big enough that overlaps are a small share.

    Translators get large tiles: with shared statistics any tile size matches the untiled run, but each
    tile pays for its overlaps, and .onnx models (per-tile statistics) show fainter bands with larger tiles.
    """
    return 256 if spec.scale > 1 else 1024


def recommended_overlap(spec: ModelSpec) -> int:
    """Input pixels shared by neighbouring tiles. The first quarter of an overlap is ignored (see _window),
    so this covers the effective receptive field of our generators at that quarter."""
    return 32 if spec.scale > 1 else 64


@dataclass(frozen=True)
class Output:
    """pixels: (H, W, 3) or (H, W) for grayscale inputs, float32 in [0, 1]; alpha: (H, W) or None."""

    pixels: np.ndarray
    alpha: np.ndarray | None


class Translator:
    """Runs an image-to-image model on pixel arrays.

    net: a torch module or anything callable the same way (an onnxruntime session wrapper).
    tile: largest input side processed in one piece (0 = never tile); tile_overlap: input pixels shared by
    neighbouring tiles. half: run a torch model in float16 (CUDA).
    """

    def __init__(self, net: Callable[[torch.Tensor], torch.Tensor], spec: ModelSpec, device: torch.device,
                 tile: int | None = None, tile_overlap: int | None = None, half: bool = False,
                 backend: str = "torch") -> None:
        if spec.task not in IMAGE_TASKS:
            raise ConfigError(f"a {spec.task} model does not translate images; use a translation or "
                              "super-resolution model")
        self.net, self.spec, self.device, self.backend = net, spec, device, backend
        self.tile = recommended_tile(spec) if tile is None else tile
        self.tile_overlap = recommended_overlap(spec) if tile_overlap is None else tile_overlap
        if self.tile < 0:
            raise ConfigError(f"--tile must be 0 (never tile) or a positive side in pixels, got {self.tile}")
        if self.tile and not 0 <= self.tile_overlap < self.tile:
            raise ConfigError(f"--tile-overlap must be in [0, tile), got {self.tile_overlap} with tile {self.tile}")
        self.dtype = torch.float16 if half else torch.float32
        # channels-last made SRResNet 2.5x faster on the CPU (benchmarks/inference.py) but slowed the
        # instance-normalised translators, so only super-resolution nets use it
        self.memory_format = torch.channels_last if spec.task == "super-resolution" else torch.contiguous_format
        if isinstance(net, torch.nn.Module):
            net.to(device=device, dtype=self.dtype, memory_format=self.memory_format).eval()
        self.shared_norm = SharedNormStats(net) if isinstance(net, torch.nn.Module) else None
        # a shared-statistics run changes how the net's norm layers behave: one such run at a time per model
        self._norm_lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path, device: str = "auto", tile: int | None = None,
                  tile_overlap: int | None = None, half: bool = False, provider: str = "auto",
                  task: str | tuple[str, ...] = IMAGE_TASKS) -> Translator:
        """A Translator for a .safetensors model file (PyTorch) or an .onnx export (onnxruntime)."""
        path = Path(path)
        if path.suffix.lower() == ".onnx":
            from translate.onnx import OnnxNet, read_spec, session

            if half:
                raise ConfigError("--half applies to PyTorch models; export with export-onnx --fp16 instead")
            if device not in ("auto", "cpu", provider):
                raise ConfigError(f"--device {device}: .onnx models run on onnxruntime; use --provider {device}")
            sess = session(path, provider=device if provider == "auto" and device != "auto" else provider)
            spec = read_spec(sess, path)
            check_task(path, spec, task)
            return cls(OnnxNet(sess), spec, torch.device("cpu"), tile, tile_overlap, backend="onnx")
        if provider != "auto":
            raise ConfigError(f"--provider {provider} applies to .onnx models; a PyTorch model takes --device")
        dev = pick_device(device)
        if half and dev.type != "cuda":
            raise ConfigError("--half needs a CUDA device (float16 on the CPU is slow and inexact)")
        net, spec = load_model(path, task=task, device=dev)
        return cls(net, spec, dev, tile, tile_overlap, half)

    def tiles(self, width: int, height: int) -> int:
        """How many units of work (tiles, plus the statistics passes) an input of this size takes."""
        if not self.tile or max(width, height) <= self.tile:
            return 1
        n = len(_starts(height, self.tile, self.tile - self.tile_overlap)) * len(
            _starts(width, self.tile, self.tile - self.tile_overlap))
        return 1 + n if self.shared_norm else n

    @torch.inference_mode()
    def __call__(self, pixels: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        """(H, W, C) float pixels in [0, 1] -> (H*scale, W*scale, C) float pixels in [0, 1]."""
        x = to_tensor(pixels, self.spec.value_range)[None].to(self.device, self.dtype)
        big = self.tile and max(x.shape[2:]) > self.tile
        y = self._run_tiled(x, progress) if big else self._run_padded(x)
        if not big and progress:
            progress(1, 1)
        return to_pixels(y[0], self.spec.value_range)

    def image(self, decoded: DecodedImage, progress: Progress | None = None) -> Output:
        """Translate a decoded image, keeping its look: a grayscale input gives a grayscale output; alpha
        is upscaled (super-resolution) or passed through (translation)."""
        out = self(decoded.pixels, progress)
        if decoded.grayscale:
            out = to_gray(out)
        alpha = decoded.alpha
        if alpha is not None and self.spec.scale > 1:
            alpha = bicubic_resize(alpha, (out.shape[1], out.shape[0]), quantize=False)
        return Output(out, alpha)

    def _padded_size(self, h: int, w: int) -> tuple[int, int]:
        """The size an (h, w) input is padded to before the net sees it."""
        m, least = self.spec.size_multiple, self.spec.min_side
        return h + max((-h) % m, least - h), w + max((-w) % m, least - w)

    def _run_padded(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        padded_h, padded_w = self._padded_size(h, w)
        pad_h, pad_w = padded_h - h, padded_w - w
        if pad_h or pad_w:
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"  # reflection needs pad < size
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        if self.backend == "torch":
            x = x.contiguous(memory_format=self.memory_format)
        y = self.net(x).float()
        s = self.spec.scale
        return y[:, :, : h * s, : w * s]

    def _run_tiled(self, x: torch.Tensor, progress: Progress | None) -> torch.Tensor:
        if not self.shared_norm:
            return self._blend_tiles(x, progress, 0, self.tiles(x.shape[3], x.shape[2]))
        total = self.tiles(x.shape[3], x.shape[2])
        with self._norm_lock:
            # statistics of a downscaled copy of the whole image, shared by every tile: one tone everywhere,
            # close to (not exactly) the untiled run's, since the copy lacks the finest detail. Exact ones would
            # need every tile to reach a layer before any passes it; re-measuring over the full-resolution tiles
            # with these in place came out further from the untiled run (each pass fixed one more layer while
            # the deeper ones drifted).
            h, w = x.shape[2:]
            factor = min(1.0, STATS_SIDE / max(h, w))
            small = F.interpolate(x.float(), scale_factor=factor, mode="bilinear", antialias=True,
                                  recompute_scale_factor=True).to(x.dtype) if factor < 1 else x
            self.shared_norm.clear()
            with self.shared_norm.collecting():
                self._run_padded(small)
            if progress:
                progress(1, total)
            with self.shared_norm.frozen():
                return self._blend_tiles(x, progress, 1, total)

    def _blend_tiles(self, x: torch.Tensor, progress: Progress | None, done: int, total: int) -> torch.Tensor:
        """Run the tiles of x and cross-fade them."""
        _, _, h, w = x.shape
        s, overlap = self.spec.scale, self.tile_overlap
        step = self.tile - overlap
        out = torch.zeros(1, self.spec.out_channels, h * s, w * s, device=x.device)
        weight = torch.zeros(1, 1, h * s, w * s, device=x.device)
        tops, lefts = _starts(h, self.tile, step), _starts(w, self.tile, step)
        for top in tops:
            for left in lefts:
                y = self._run_padded(x[:, :, top:top + self.tile, left:left + self.tile])
                done += 1
                if progress:
                    progress(done, total)
                y = y.to(out.device)
                inner = (top > 0, top + self.tile < h, left > 0, left + self.tile < w)
                window = _window(y.shape[2], y.shape[3], overlap * s, inner, y.device)
                region = (slice(None), slice(None), slice(top * s, top * s + y.shape[2]),
                          slice(left * s, left * s + y.shape[3]))
                out[region] += y * window
                weight[region] += window
        return out / weight


def _starts(length: int, tile: int, step: int) -> list[int]:
    """Tile origins covering [0, length): regular steps, the last one flush with the end."""
    if length <= tile:
        return [0]
    return [*range(0, length - tile, step), length - tile]


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
