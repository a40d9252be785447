"""How far each bundled model's bfloat16 output is from its float32 output, against the bounds serving
holds it to under --precision auto (translate.precision): translators >= 40 dB PSNR (pixels in [0, 1],
bf16 output against fp32 output), super-resolution <= 0.05 dB Y-PSNR lost on Set5 and Set14 (x4, the
evaluate-sr protocol). Both precisions run in the same invocation, on the CPU.

    python benchmarks/bf16_quality.py [--images 10] [--data ../shared/data]

Translators' test images: BSD68 photos for the photo -> painting models, the first vangogh2photo paintings
(trainA) for painting -> photo, the facades test label maps for facades. Prints each model's worst and
mean PSNR over the images, or its Y-PSNR in both precisions.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from translate.data.io import list_images, read_image
from translate.evaluation.metrics import evaluate_sr_folder, psnr
from translate.inference import Translator
from translate.precision import cpu_bf16
from translate.zoo import bundled_models_dir

TRANSLATOR_BOUND_DB = 40.0
SR_LOSS_BOUND_DB = 0.05


def translator_inputs(model: str, data: Path, count: int) -> list[np.ndarray]:
    if model.startswith("facades"):
        pairs = list_images(data / "facades" / "test")[:count]
        return [(p := read_image(path).pixels)[:, p.shape[1] // 2:] for path in pairs]  # the label half
    folder = data / "vangogh2photo" / "trainA" if model.endswith("B2A") else data / "sr" / "BSD68"
    return [read_image(path).pixels for path in list_images(folder)[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10, help="test images per translator")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    print(f"CPU bf16: {cpu_bf16() or 'none (bf16 emulated: slow, the figures still hold)'}")
    for path in sorted(bundled_models_dir().glob("*.safetensors")):
        try:
            runs = {p: Translator.from_file(path, device="cpu", precision=p) for p in ("fp32", "bf16")}
        except Exception:  # noqa: BLE001 - not an image model (digits generates): nothing to serve
            continue
        if runs["fp32"].spec.task == "super-resolution":
            for name in ("Set5", "Set14"):
                scores = {p: evaluate_sr_folder(str(args.data / "sr" / name), t.spec.scale, t)["model_psnr"]
                          for p, t in runs.items()}
                lost = scores["fp32"] - scores["bf16"]
                print(f"{path.stem} {name}: Y-PSNR fp32 {scores['fp32']:.3f} dB, bf16 {scores['bf16']:.3f} dB, "
                      f"lost {lost:+.3f} dB ({'within' if lost <= SR_LOSS_BOUND_DB else 'OVER'} "
                      f"{SR_LOSS_BOUND_DB} dB)")
            continue
        values = [psnr(runs["fp32"](x), runs["bf16"](x), peak=1.0)
                  for x in translator_inputs(path.stem, args.data, args.images)]
        worst, mean = min(values), sum(values) / len(values)
        print(f"{path.stem}: bf16 vs fp32 PSNR worst {worst:.1f} dB, mean {mean:.1f} dB over {len(values)} images "
              f"({'meets' if worst >= TRANSLATOR_BOUND_DB else 'MISSES'} {TRANSLATOR_BOUND_DB:.0f} dB)"
              + (" (identical)" if math.isinf(worst) else ""))


if __name__ == "__main__":
    main()
