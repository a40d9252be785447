"""3x3 convolutions trained through Winograd's minimal filtering, F(4x4, 3x3) (Lavin and Gray 2016).

Each 6x6 input tile and each 3x3 filter is carried into a 6x6 transform space where the convolution
becomes 36 independent channel-mixing matrix products; a 4x4 output tile comes back out. That is 36
multiplications per output tile and channel pair instead of 144, and every step (the tile transforms
and their transposes in the backward pass) is a matrix product, a strided convolution or a strided copy.

It pays on a CPU, where PyTorch's direct convolutions already run near the matrix-product peak and only
fewer multiplications help: the 3x3 convolutions of the CycleGAN generator's residual blocks (256 channels
at 32x32) train about twice as fast, a whole CycleGAN step 1.4-1.5x (benchmarks/train_throughput.py). It
does not pay for thin layers (under 128 channels the tile transforms, which are memory-bound, dominate),
on GPUs (cuDNN picks its own algorithms), or at inference, so :class:`Conv3x3` uses it only when training
wide layers on the CPU in float32. The results match a direct convolution to about 1e-5 relative, the
rounding error the transform-space products add.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

# F(4x4, 3x3) with interpolation points 0, +-1, +-2 and infinity (Lavin and Gray 2016, section 4.2).
_INPUT_T = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0), (0, -2, -1, 2, 1, 0),
            (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
_FILTER = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6), (1 / 24, 1 / 12, 1 / 6),
           (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
_OUTPUT_T = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
TILE = 4  # output tile side
MIN_CHANNELS = 128

_enabled = True


@contextlib.contextmanager
def direct_convolutions() -> Iterator[None]:
    """Within the block every :class:`Conv3x3` runs as a plain convolution (to compare or count FLOPs)."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


def _two_sided(matrix: torch.Tensor, tiles: torch.Tensor) -> torch.Tensor:
    """matrix @ tile @ matrix.T for every tile of `tiles` (k, k, X), as two matrix products: (m, m, X)."""
    m, k = matrix.shape
    rows = (matrix @ tiles.reshape(k, -1)).reshape(m, k, -1)  # contracts each tile's row index
    return torch.matmul(matrix, rows)  # then, per output row, its column index


class _InputTransform(torch.autograd.Function):
    """(N, C, H, W) -> (36, C, N * tiles_h * tiles_w): every overlapping 6x6 tile (stride TILE) carried into
    transform space, B.T @ tile @ B.

    Forward is one strided convolution of each channel with the 36 fixed 6x6 products of B's rows, which
    gathers and transforms the tiles in a single pass. Its autograd backward (a transposed convolution
    to one channel) is slow, so backward is written out: the transposed transform as two matrix products,
    then the tiles' overlap (a - TILE rows and columns) folded back with a few strided adds per axis."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, input_t: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        a = input_t.shape[0]
        ctx.save_for_backward(input_t)
        ctx.shape = x.shape
        v = F.conv2d(x.reshape(n * c, 1, h, w), bank, stride=TILE)  # (N * C, 36, th, tw)
        ctx.tiles = v.shape[2:]
        return v.view(n, c, a * a, -1).permute(2, 1, 0, 3).reshape(a * a, c, -1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (input_t,) = ctx.saved_tensors
        n, c, h, w = ctx.shape
        tiles_h, tiles_w = ctx.tiles
        a = input_t.shape[0]
        tiles = _two_sided(input_t.t(), grad.reshape(a, a, -1)).view(a, a, c, n, tiles_h, tiles_w)
        cols = grad.new_empty(n, c, tiles_h, a, w)
        _fold(tiles.permute(3, 2, 4, 0, 5, 1), cols)  # (N, C, th, a, tw, a) -> (N, C, th, a, W)
        out = grad.new_empty(n, c, h, w)
        _fold(cols.permute(0, 1, 4, 2, 3), out.transpose(2, 3))  # (N, C, W, th, a) -> (N, C, W, H)
        return out, None, None


def _fold(tiles: torch.Tensor, out: torch.Tensor) -> None:
    """Sums overlapping tiles (..., count, a), placed every TILE along out's last axis (..., length), into
    out: each tile's first TILE entries are its own, the a - TILE after them overlap the next tile."""
    count, a = tiles.shape[-2:]
    covered = count * TILE
    out[..., covered:] = 0
    out[..., :covered].unflatten(-1, (count, TILE)).copy_(tiles[..., :TILE])
    for k in range(TILE, a):
        out[..., k:k + covered:TILE] += tiles[..., k]


@functools.lru_cache(maxsize=8)
def _matrices(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    """B.T, G, A.T as tensors, and B.T's 36 two-sided products as a (36, 1, 6, 6) convolution filter bank;
    built once per dtype and device (as normal tensors even when first asked for in inference mode)."""
    with torch.inference_mode(False):
        input_t, filter_t, output_t = (torch.tensor(t, dtype=dtype, device=device)
                                       for t in (_INPUT_T, _FILTER, _OUTPUT_T))
        a = input_t.shape[0]
        bank = torch.einsum("xi,yj->xyij", input_t, input_t).reshape(a * a, 1, a, a)
    return input_t, filter_t, output_t, bank


def winograd_conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.conv2d(x, weight, bias) for a 3x3 kernel, stride 1, no padding, one group: (N, C, H, W) ->
    (N, O, H - 2, W - 2). Any H, W >= 3 (edges are zero-padded to whole tiles and the excess cut off)."""
    n, c, h, w = x.shape
    out_h, out_w = h - 2, w - 2
    pad_h, pad_w = -out_h % TILE, -out_w % TILE
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    tiles_h, tiles_w = (out_h + pad_h) // TILE, (out_w + pad_w) // TILE
    input_t, filter_t, output_t, bank = _matrices(x.dtype, x.device)
    a = input_t.shape[0]
    v = _InputTransform.apply(x, input_t, bank)  # (36, C, positions)
    out_c = weight.shape[0]
    u = _two_sided(filter_t, weight.permute(2, 3, 0, 1).reshape(3, 3, -1)).reshape(a * a, out_c, c)
    m = torch.bmm(u, v).reshape(a, a, -1)  # (36, O, positions): the channel mixing in transform space
    y = _two_sided(output_t, m).reshape(TILE, TILE, out_c, n, tiles_h, tiles_w)
    y = y.permute(3, 2, 4, 0, 5, 1).reshape(n, out_c, tiles_h * TILE, tiles_w * TILE)
    if pad_h or pad_w:
        y = y[:, :, :out_h, :out_w]
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1)
    return y


class Conv3x3(nn.Conv2d):
    """nn.Conv2d(in, out, 3) (stride 1, no padding; same parameters and state dict) that trains through
    :func:`winograd_conv3x3` where that is faster: CPU, float32 without autocast, gradients on, both channel
    counts at least 128, not under torch.compile or export."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, 3, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (_enabled and torch.is_grad_enabled() and x.device.type == "cpu" and x.dtype == torch.float32
                and self.weight.dtype == torch.float32 and min(self.in_channels, self.out_channels) >= MIN_CHANNELS
                and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling()):
            return winograd_conv3x3(x, self.weight, self.bias)
        return super().forward(x)
