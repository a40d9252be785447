"""A PNG encoder for big 8-bit images that uses every core.

Pillow encodes a PNG in one thread: on an H200 machine a 48 MP output took 16.6 s to write, the network 1.3 s.
Here the image is cut into strips of rows; worker threads turn each strip into 8-bit samples, apply PNG's Up
filter (vectorised with numpy) and deflate it as raw deflate blocks ending in a sync flush. The blocks joined in
order form one valid zlib stream (what pigz does), whose Adler-32 is combined from the strips' own. numpy and
zlib release the GIL, so the strips really run in parallel. The file decodes to exactly the same pixels as
Pillow's; only its size differs a little.
"""

from __future__ import annotations

import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (gray, gray+alpha, RGB, RGBA)
_STRIP_BYTES = 1 << 21
_ADLER_BASE = 65521


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of A + B from those of A and B and B's length (zlib's adler32_combine)."""
    rem = second_length % _ADLER_BASE
    sum1 = first & 0xFFFF
    sum2 = (rem * sum1) % _ADLER_BASE
    sum1 = (sum1 + (second & 0xFFFF) + _ADLER_BASE - 1) % _ADLER_BASE
    sum2 = (sum2 + (first >> 16) + (second >> 16) + _ADLER_BASE - rem) % _ADLER_BASE
    return sum1 | (sum2 << 16)


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """Float samples in [0, 1] -> uint8, rounded half to even (as np.round)."""
    scaled = np.multiply(pixels, np.float32(255.0), dtype=np.float32)
    np.round(scaled, out=scaled)
    return scaled.astype(np.uint8)


def up_filter(rows: np.ndarray, above: np.ndarray) -> np.ndarray:
    """(n, width * channels) uint8 rows, and the row above the first (zeros at the top) -> the n filtered
    scanlines, each led by filter type 2 (Up: the difference to the row above, modulo 256), as PNG stores them.

    Up rather than Paeth: on a 6 MP x4-upscaled photo numpy's Up took 0.03 s against Paeth's 5 s, and the Up rows
    deflated faster and into a smaller file (3.9 MB against 4.1 at level 1)."""
    out = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = 2
    np.subtract(rows[:1], above[None], out=out[:1, 1:])
    np.subtract(rows[1:], rows[:-1], out=out[1:, 1:])
    return out


def encode_png(pixels: np.ndarray, level: int, threads: int | None = None) -> bytes:
    """Float samples in [0, 1], (H, W) or (H, W, C) with C in 1-4, -> the bytes of an 8-bit PNG."""
    h, w = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    flat = pixels.reshape(h, w * channels)
    rows_per_strip = max(1, _STRIP_BYTES // (w * channels + 1))
    starts = list(range(0, h, rows_per_strip))

    def strip(index: int) -> tuple[bytes, int, int]:
        top = starts[index]
        bottom = min(h, top + rows_per_strip)
        above = to_8bit(flat[top - 1]) if top else np.zeros(w * channels, dtype=np.uint8)
        raw = up_filter(to_8bit(flat[top:bottom]), above).tobytes()
        deflate = zlib.compressobj(level, zlib.DEFLATED, -15)
        last = index == len(starts) - 1
        data = deflate.compress(raw) + deflate.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
        return data, zlib.adler32(raw), len(raw)

    workers = threads or min(len(starts), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                             else os.cpu_count() or 1)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        parts = list(pool.map(strip, range(len(starts))))
    adler = 1
    for _, part_adler, length in parts:
        adler = adler32_combine(adler, part_adler, length)
    header = bytes([0x78, 0x01])  # deflate, 32 KB window, no dictionary (the level hint is informative only)
    idat = [_chunk(b"IDAT", header + parts[0][0])] + [_chunk(b"IDAT", data) for data, _, _ in parts[1:]]
    idat.append(_chunk(b"IDAT", struct.pack(">I", adler)))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + b"".join(idat) + _chunk(b"IEND", b"")


def write_png(path: Path, pixels: np.ndarray, level: int) -> None:
    """encode_png(pixels, level) written to `path` (the caller handles atomic placement)."""
    path.write_bytes(encode_png(pixels, level))
