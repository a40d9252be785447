"""How long writing a big output takes: PNG zlib levels, and encoding overlapped with the next image's work.

    python benchmarks/png_write.py [--megapixels 48] [--repeats 2]

The image is a bundled photo mirrored out to 2000x1500 and upscaled x4 (bicubic) to 8000x6000 for 48 MP: it
compresses like the x4 super-resolution output it stands for (noise or a repeated tile would not).
Prints the seconds a write takes (conversion from float included) and the file size: Pillow's one-thread
encoder at level 6 (the old default, the reference) and at level 1, and `write_image`'s encoder in strips on
every core. Then the wall time of computing-and-writing three such images one after the other versus with the
writes in a background thread (the `translate` command's way), the "computing" being a stand-in that keeps one
core busy as long as the new default write takes, so the overlap is what is measured. This machine has 2 cores
(shared with other jobs while measured); a GPU machine's 16 or more split the encoding further.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from translate.data.io import write_image
from translate.data.png import to_8bit

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
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{w}x{h} ({w * h / 1e6:.1f} MP) from {SOURCE.relative_to(REPO)}, median of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.png"
        convert = timed(lambda: to_8bit(pixels), args.repeats)
        print(f"float -> 8-bit conversion alone (one thread): {convert:.2f} s")

        def pillow(level: int) -> None:
            Image.fromarray(to_8bit(pixels)).save(out, format="PNG", compress_level=level)

        cases = {
            "Pillow, level 6 (the old default)": lambda: pillow(6),
            "Pillow, level 1": lambda: pillow(1),
            f"strips on {cores} cores, level 6": lambda: write_image(out, pixels, png_level=6),
            f"strips on {cores} cores, level 1 (the new default)": lambda: write_image(out, pixels),
        }
        print(f"{'write (conversion included)':<44} {'s':>6} {'MB':>6} {'vs old':>7}")
        rows = {}
        for name, fn in cases.items():
            rows[name] = timed(fn, args.repeats)
            first = next(iter(rows.values()))
            print(f"{name:<44} {rows[name]:>6.2f} {out.stat().st_size / 1e6:>6.1f} {first / rows[name]:>6.2f}x")
        compute = rows[list(cases)[-1]]
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
        print(f"3 images, compute {compute:.2f} s each + the default write: one after the other {serial:.2f} s, "
              f"writes in a background thread {both:.2f} s ({serial / both:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
