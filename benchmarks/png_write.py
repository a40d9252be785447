"""How long writing a big output takes: PNG zlib levels, and encoding overlapped with the next image's work.

    python benchmarks/png_write.py [--megapixels 48] [--repeats 2]

The image is a bundled photo mirrored out to 2000x1500 and upscaled x4 (bicubic) to 8000x6000 for 48 MP: it
compresses like the x4 super-resolution output it stands for (noise or a repeated tile would not).
Prints, per zlib level, the seconds `write_image` takes and the file size, with the old default (level 6,
Pillow's) as the reference; then the wall time of computing-and-writing three such images one after the other
versus with the writes in a background thread (the `translate` command's way), the "computing" being a stand-in
that keeps one CPU core busy for as long as a level-1 write takes, so the overlap is what is measured. A machine
with more free cores than this one's 2 overlaps better.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from translate.data.io import write_image

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "datasets" / "samples" / "realworld_lq" / "0014.jpg"


def big_image(megapixels: float) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1], 4:3, about `megapixels` MP, compressing like a x4 super-resolution output:
    the photo mirrored out to a quarter of the size, then upscaled x4 (bicubic). Mirroring, not tiling: a
    copy of a row's content never recurs within zlib's 32 KB window, which would flatter the encoder."""
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    with Image.open(SOURCE) as im:
        tile = np.asarray(im.convert("RGB"))
    small = (-(-height // 4), -(-width // 4))
    pad = ((0, max(0, small[0] - tile.shape[0])), (0, max(0, small[1] - tile.shape[1])), (0, 0))
    quarter = np.ascontiguousarray(np.pad(tile, pad, mode="symmetric")[:small[0], :small[1]])
    big = Image.fromarray(quarter).resize((width, height), Image.BICUBIC)
    return np.asarray(big, dtype=np.float32) / 255.0


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def busy(seconds: float) -> None:
    """Stand-in for computing the next image: numpy work that holds one core for about `seconds`."""
    a = np.random.default_rng(0).random((512, 512), dtype=np.float32)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        a = np.sqrt(a * a + 1e-3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=48.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    pixels = big_image(args.megapixels)
    h, w = pixels.shape[:2]
    print(f"{w}x{h} ({w * h / 1e6:.1f} MP) from {SOURCE.relative_to(REPO)}, median of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.png"
        convert = timed(lambda: np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8), args.repeats)
        print(f"float -> 8-bit conversion alone: {convert:.2f} s")
        print(f"{'PNG level':>10} {'write s':>8} {'MB':>7} {'vs level 6':>11}")
        rows = {}
        for level in (6, 1, 0):
            seconds = timed(lambda level=level: write_image(out, pixels, png_level=level), args.repeats)
            rows[level] = seconds
            note = " (old default)" if level == 6 else " (new default above 4 MP)" if level == 1 else ""
            print(f"{level:>10} {seconds:>8.2f} {out.stat().st_size / 1e6:>7.1f} {rows[6] / seconds:>10.2f}x{note}")
        compute = rows[1]
        serial = timed(lambda: [(busy(compute), write_image(out, pixels)) for _ in range(3)], 1)
        with ThreadPoolExecutor(1) as pool:
            def overlapped() -> None:
                pending = []
                for i in range(3):
                    busy(compute)
                    pending.append(pool.submit(write_image, Path(tmp) / f"o{i}.png", pixels))
                for job in pending:
                    job.result()
            both = timed(overlapped, 1)
        print(f"3 images, compute {compute:.2f} s each + write at level 1: one after the other {serial:.2f} s, "
              f"writes in a background thread {both:.2f} s ({serial / both:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
