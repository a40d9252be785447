"""How closely a tiled run matches the untiled run of the bundled translators (PSNR in dB, higher is closer).

    PYTHONPATH=. .venv/bin/python benchmarks/tiles.py [--image PHOTO] [--tiles 1024 256] [--size 2048 1536]

The photo is upscaled (bicubic) and centre-cropped to --size. Each model runs once untiled (the reference)
and, per tile size, with the untiled run's statistics measured layer by layer over the tiles (the
default), beside two baselines: statistics of a copy of the image downscaled to 1024 pixels, shared by
every tile (what tiled runs did before), and each tile normalised by its own statistics (what an .onnx
model does). Also prints each run's time.
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
    parser.add_argument("--baselines", nargs="*", default=["copy", "per-tile"], choices=["copy", "per-tile"])
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
        print(f"{name}: untiled {time.perf_counter() - start:.1f}s", flush=True)
        for tile in args.tiles:
            translator = Translator.from_file(path, device="cpu", tile=tile)
            for mode in ("layer by layer", *args.baselines):
                start = time.perf_counter()
                tiled = copy_statistics_run(translator, pixels) if mode == "copy" else translator(pixels)
                tiles = len(translator._grid(*pixels.shape[:2]))
                print(f"{name}: tile {tile} overlap {translator.tile_overlap}, {tiles} tiles, {mode} statistics: "
                      f"PSNR {psnr(whole, tiled):.1f} dB vs untiled, "
                      f"{time.perf_counter() - start:.1f}s", flush=True)
                if mode == "copy":
                    translator.shared_norm.layers = []  # each tile its own statistics from here on
    return 0


def copy_statistics_run(translator, pixels: np.ndarray) -> np.ndarray:
    """The baseline: every tile normalised by the statistics of a copy of the image scaled to 1024 pixels."""
    import torch.nn.functional as F

    from translate.data.convert import to_pixels, to_tensor

    x = to_tensor(pixels, translator.spec.value_range)[None]
    factor = min(1.0, 1024 / max(x.shape[2:]))
    stats = translator.shared_norm
    stats.clear()
    with stats.collecting():
        translator._run_padded(F.interpolate(x, scale_factor=factor, mode="bilinear", antialias=True,
                                             recompute_scale_factor=True))
    with stats.frozen():
        y = translator._blend_tiles(x, translator._grid(*x.shape[2:]), None, 0, 0)
    return to_pixels(y[0], translator.spec.value_range)


if __name__ == "__main__":
    sys.exit(main())
