"""The Translator: the one place that turns an image into a model's output (CLI, app, evaluation, benchmarks).

It reads a model file (.safetensors, run by PyTorch) or an exported .onnx file (run by onnxruntime) and:
pads inputs to the network's size multiple (reflection) and crops back, so any size works; runs large
images in overlapping tiles blended so no seam shows; keeps grayscale images gray and transparent images
transparent; and returns float pixels in [0, 1].

Tiles and normalisation: instance norm (and GroupNorm) normalise by statistics of the whole feature map, so
a tile normalised by its own statistics comes out in another tone than the same pixels in the whole image.
For PyTorch models the tiled run therefore first measures the untiled run's statistics layer by layer over
the tiles and then normalises every tile by them (translate.nets.norm_stats): the output matches the
untiled run's, at the cost of a pass over the tiles per norm layer, each stopping at that layer. Memory
stays that of one tile. An .onnx graph cannot be changed that way and keeps per-tile statistics (larger
tiles make the bands fainter).
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
from translate.nets.channels_last import for_channels_last
from translate.nets.norm_stats import SharedNormStats
from translate.output_check import check_values
from translate.precision import Precision, serving_precision

IMAGE_TASKS = ("translation", "super-resolution")

Progress = Callable[[int, int], None]
"""Called as progress(done, total) after each unit of work (a tile, in a statistics pass or the output's)."""


def recommended_tile(spec: ModelSpec) -> int:
    """Input tile side for large images: bounded memory, big enough that overlaps are a small share.

    Translators run whole up to 2048 pixels a side (the bundled vangogh at 2048x2048: 2.6 GB more peak
    memory, 45 s on one CPU thread), since a tiled run, exact as it is, pays one pass over the tiles per norm
    layer (6 to 8 times the time, see _run_tiled); .onnx exports, which normalise each tile by itself, also
    show fainter bands with larger tiles.
    """
    return 256 if spec.scale > 1 else 2048


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
    neighbouring tiles. half: run a torch model in float16 (CUDA). precision: the arithmetic of a torch model
    (translate.precision; default float32, or float16 with `half`): its weights are cast once, here.
    """

    def __init__(self, net: Callable[[torch.Tensor], torch.Tensor], spec: ModelSpec, device: torch.device,
                 tile: int | None = None, tile_overlap: int | None = None, half: bool = False,
                 backend: str = "torch", precision: Precision | None = None) -> None:
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
        if precision is None:
            precision = Precision("fp16", "--half") if half else Precision("fp32", "the default")
        if precision.name != "fp32" and not isinstance(net, torch.nn.Module):
            raise ConfigError(f"{precision.name} applies to PyTorch models; an export runs in its own precision")
        self.precision, self.dtype = precision, precision.dtype
        self.where: object = "the model"
        """What output errors name: the model file, when read by :meth:`from_file`."""
        # channels-last made SRResNet 2.5x faster on the CPU in float32 (benchmarks/inference.py) but slowed
        # the instance-normalised translators there; oneDNN's bf16 kernels want it for every net
        channels_last = spec.task == "super-resolution" or precision.name == "bf16"
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if isinstance(net, torch.nn.Module):
            if precision.name == "bf16":
                for_channels_last(net)
            net.to(device=device, dtype=self.dtype, memory_format=self.memory_format).eval()
        self.shared_norm = SharedNormStats(net) if isinstance(net, torch.nn.Module) else None
        # a shared-statistics run changes how the net's norm layers behave: one such run at a time per model
        self._norm_lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path, device: str = "auto", tile: int | None = None,
                  tile_overlap: int | None = None, half: bool = False, provider: str = "auto",
                  task: str | tuple[str, ...] = IMAGE_TASKS, precision: str = "fp32") -> Translator:
        """A Translator for a .safetensors model file (PyTorch) or an .onnx export (onnxruntime); `precision`:
        auto, fp32 or bf16 (translate.precision.serving_precision) for a PyTorch model."""
        path = Path(path)
        if path.suffix.lower() == ".onnx":
            from translate.onnx import OnnxNet, read_spec, session

            if half:
                raise ConfigError("--half applies to PyTorch models; export with export-onnx --fp16 instead")
            if precision == "bf16":
                raise ConfigError("--precision bf16 applies to PyTorch models; an .onnx export runs in the "
                                  "precision it was exported in (export-onnx --fp16 or --int8)")
            if device not in ("auto", "cpu", provider):
                raise ConfigError(f"--device {device}: .onnx models run on onnxruntime; use --provider {device}")
            sess = session(path, provider=device if provider == "auto" and device != "auto" else provider)
            spec = read_spec(sess, path)
            check_task(path, spec, task)
            translator = cls(OnnxNet(sess), spec, torch.device("cpu"), tile, tile_overlap, backend="onnx")
            translator.where = path
            translator.precision = Precision("fp32", "inputs and outputs; onnxruntime computes in the precision "
                                             "the file was exported in")
            return translator
        if provider != "auto":
            raise ConfigError(f"--provider {provider} applies to .onnx models; a PyTorch model takes --device")
        dev = pick_device(device)
        if half and dev.type != "cuda":
            raise ConfigError("--half needs a CUDA device (float16 on the CPU is slow and inexact)")
        if half and precision == "bf16":
            raise ConfigError("--half and --precision bf16 are alternatives; pick one")
        net, spec = load_model(path, task=task, device=dev)
        chosen = None if half else serving_precision(precision, dev, spec.notes)
        translator = cls(net, spec, dev, tile, tile_overlap, half, precision=chosen)
        translator.where = path
        return translator

    def tiles(self, width: int, height: int) -> int:
        """How many units of work an input of this size takes: its tiles, run once per shared-statistics
        layer (each run stopping at that layer) and once more for the output."""
        if not self.tile or max(width, height) <= self.tile:
            return 1
        n = len(self._grid(height, width))
        return (1 + len(self.shared_norm.layers)) * n if self.shared_norm else n

    @torch.inference_mode()
    def __call__(self, pixels: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        """(H, W, C) float pixels in [0, 1] -> (H*scale, W*scale, C) float pixels in [0, 1]."""
        x = to_tensor(pixels, self.spec.value_range)[None].to(self.device, self.dtype)
        big = self.tile and max(x.shape[2:]) > self.tile
        y = self._run_tiled(x, progress) if big else self._run_padded(x)
        check_values(self.where, y, x)
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
        grid = self._grid(*x.shape[2:])
        total = self.tiles(x.shape[3], x.shape[2])
        if not self.shared_norm:
            return self._blend_tiles(x, grid, progress, 0, total)
        with self._norm_lock:
            stats, done = self.shared_norm, 0
            stats.clear()
            # The untiled run's statistics, layer by layer: a layer's statistics are pooled over every tile
            # (each counting only the part of the image it owns) with the layers before it already
            # normalised by theirs, and each such pass stops at the layer it measures. The statistics of a
            # downscaled copy of the image are about 1% off in each layer, enough for a faint tone shift
            # (benchmarks/tiles.py); re-measuring every layer at once over the tiles with those in place
            # diverges, since each layer's new statistics absorb the errors of the layers before it.
            layers = self._norm_order(x)
            for k, layer in enumerate(layers):
                with stats.frozen(layers[:k]):
                    for tile, region in self._tiles(x, grid):
                        stats.collect_until(layer, lambda t=tile: self._run_padded(t), region)
                        done += 1
                        if progress:
                            progress(done, total)
            with stats.frozen():
                return self._blend_tiles(x, grid, progress, done, total)

    def _norm_order(self, x: torch.Tensor) -> list[torch.nn.Module]:
        """The net's shared-statistics layers in the order a forward runs them (registration order need
        not be it), from a run on a small corner of x."""
        order: list[torch.nn.Module] = []
        handles = [m.register_forward_pre_hook(lambda m, _: order.append(m) if m not in order else None)
                   for m in self.shared_norm.layers]
        try:
            side = max(self.spec.min_side, 4 * self.spec.size_multiple)
            self._run_padded(x[:, :, :side, :side])
        finally:
            for h in handles:
                h.remove()
        return order + [m for m in self.shared_norm.layers if m not in order]

    def _grid(self, h: int, w: int) -> list[tuple[int, int, int, int, Box]]:
        """(top, bottom, left, right, owned) of each tile; owned: the (top, bottom, left, right) of the part
        of the image the tile owns. The owned parts cover the image once, split in the middle of overlaps."""
        m = self.spec.size_multiple
        align = m if self.tile >= self.tile_overlap + 2 * m else 1
        rows, cols = (_spans(n, self.tile, self.tile_overlap, align) for n in (h, w))
        padded_h, padded_w = self._padded_size(h, w)
        return [(top, bottom, left, right, (*ro, *co))
                for (top, bottom), ro in zip(rows, _owned(rows, align, padded_h))
                for (left, right), co in zip(cols, _owned(cols, align, padded_w))]

    def _tiles(self, x: torch.Tensor, grid: list[tuple[int, int, int, int, Box]]
               ) -> list[tuple[torch.Tensor, tuple[float, float, float, float]]]:
        """Each tile of x and its owned part as fractions of the padded tile the net sees."""
        out = []
        for top, bottom, left, right, (o_top, o_bottom, o_left, o_right) in grid:
            ph, pw = self._padded_size(bottom - top, right - left)
            out.append((x[:, :, top:bottom, left:right],
                        ((o_top - top) / ph, (o_bottom - top) / ph, (o_left - left) / pw, (o_right - left) / pw)))
        return out

    def _blend_tiles(self, x: torch.Tensor, grid: list[tuple[int, int, int, int, Box]], progress: Progress | None,
                     done: int, total: int) -> torch.Tensor:
        """Run the tiles of x and cross-fade them."""
        _, _, h, w = x.shape
        s, overlap = self.spec.scale, self.tile_overlap
        out = torch.zeros(1, self.spec.out_channels, h * s, w * s, device=x.device)
        weight = torch.zeros(1, 1, h * s, w * s, device=x.device)
        for top, bottom, left, right, _ in grid:
            y = self._run_padded(x[:, :, top:bottom, left:right])
            done += 1
            if progress:
                progress(done, total)
            y = y.to(out.device)
            window = _window(y.shape[2], y.shape[3], overlap * s, (top > 0, bottom < h, left > 0, right < w), y.device)
            region = (slice(None), slice(None), slice(top * s, bottom * s), slice(left * s, right * s))
            out[region] += y * window
            weight[region] += window
        return out / weight


Box = tuple[int, int, int, int]


def _spans(length: int, tile: int, overlap: int, align: int) -> list[tuple[int, int]]:
    """[begin, end) of the tiles along a side of `length`: as few as `tile` allows, of equal size (no tile
    mostly made of its neighbour), each pair sharing at least `overlap`, starting on multiples of `align`.

    The net's size multiple as `align` puts every tile's strided layers on the untiled run's grid (a tile
    that starts off it samples other pixels after a stride-2 layer); the last tile, flush with the end,
    may be shorter, and is padded at the image's end just as the untiled run pads it."""
    if length <= tile:
        return [(0, length)]
    if tile - overlap < 2 * align:  # a step of one pixel: every start
        return [(start, start + tile) for start in range(length - tile + 1)]
    n = max(2, -(-(length - overlap) // (tile - overlap)))
    while True:
        side = -(-(length + (n - 1) * (overlap + align)) // n)
        side = -(-side // align) * align
        if side <= tile:
            break
        n += 1
    starts = [-(-i * (length - side) // ((n - 1) * align)) * align for i in range(n)]
    return [(start, min(start + side, length)) for start in starts]


def _owned(spans: list[tuple[int, int]], align: int, padded: int) -> list[tuple[int, int]]:
    """[begin, end) of the part of the side each tile owns: neighbours split their overlap in the middle
    (on a multiple of `align`, a whole pixel of every strided layer). The last tile owns the padding too, up
    to `padded`, the side the untiled run pads to, as the untiled run's statistics count it."""
    cuts = [(end + nxt) // 2 // align * align for (_, end), (nxt, _) in zip(spans, spans[1:])]
    bounds = [spans[0][0], *cuts, padded]
    return list(zip(bounds, bounds[1:]))


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
