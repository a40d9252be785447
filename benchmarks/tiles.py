"""How closely a tiled run matches the untiled run of the bundled translators (PSNR in dB, higher is closer).

    PYTHONPATH=. .venv/bin/python benchmarks/tiles.py [--image PHOTO] [--tiles 1024 256] [--size 2048 1536]

The photo is upscaled (bicubic) and centre-cropped to --size. Each model runs once untiled (the reference)
and once per tile size with shared normalisation statistics (the default) and, for comparison, with each
tile normalised by its own statistics (what an .onnx model does). Also prints each run's time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Of 8-bit renderings, as a reader would compare saved files."""
    qa, qb = (np.round(np.clip(x, 0, 1) * 255) for x in (a, b))
    mse = float(np.mean((qa - qb) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def photo(path: Path, size: tuple[int, int]) -> np.ndarray:
    from translate.data.io import read_image
    from translate.data.resize import bicubic_resize

    pixels = read_image(path).pixels
    h, w = pixels.shape[:2]
    factor = max(size[0] / w, size[1] / h)
    big = bicubic_resize(pixels, (round(w * factor + 0.5), round(h * factor + 0.5)), quantize=False)
    top, left = (big.shape[0] - size[1]) // 2, (big.shape[1] - size[0]) // 2
    return np.ascontiguousarray(big[top:top + size[1], left:left + size[0]])


def main() -> int:
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", type=Path, default=ROOT / "datasets/samples/photos_vangogh/photos/golden_gate.jpg")
    parser.add_argument("--models", nargs="+", default=["vangogh_A2B", "monet_A2B"])
    parser.add_argument("--tiles", nargs="+", type=int, default=[1024, 256])
    parser.add_argument("--size", nargs=2, type=int, default=[2048, 1536])
    args = parser.parse_args()

    import torch

    from translate.inference import Translator
    from translate.zoo import bundled_models_dir

    torch.set_grad_enabled(False)
    pixels = photo(args.image, tuple(args.size))
    print(f"{args.image.name} -> {args.size[0]}x{args.size[1]}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    for name in args.models:
        path = bundled_models_dir() / f"{name}.safetensors"
        start = time.perf_counter()
        whole = Translator.from_file(path, device="cpu", tile=0)(pixels)
        print(f"{name}: untiled {time.perf_counter() - start:.1f}s")
        for tile in args.tiles:
            translator = Translator.from_file(path, device="cpu", tile=tile)
            for shared in (True, False):
                if not shared:
                    translator.shared_norm.layers = []  # each tile its own statistics
                start = time.perf_counter()
                tiled = translator(pixels)
                print(f"{name}: tile {tile} overlap {translator.tile_overlap}, "
                      f"{'shared' if shared else 'per-tile'} statistics: PSNR {psnr(whole, tiled):.1f} dB "
                      f"vs untiled, {time.perf_counter() - start:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
