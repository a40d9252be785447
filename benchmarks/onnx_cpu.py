"""Which ONNX export to pick for a CPU: float32, fp16 and int8 exports of the bundled models timed under
onnxruntime's CPU provider, beside PyTorch in float32 and in the default precision (bf16 on a CPU with bf16
instructions), all in one run, each with its PSNR against PyTorch's float32 output.

    python benchmarks/onnx_cpu.py [--side 512] [--sr-side 128] [--repeats 3]

int8 is calibrated on the samples the card's command would use (photos for vangogh, Set5 for sr_x4); the
times are the best of `--repeats` runs after a warm-up on one random `--side` square input.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from cpu_speed import best_time  # this folder is on the path when a benchmark runs

from translate.checkpoint import load_model
from translate.data.convert import to_tensor
from translate.evaluation.metrics import psnr
from translate.inference import Translator
from translate.onnx import OnnxNet, export_onnx, session
from translate.onnx_int8 import calibration_inputs, quantize_int8
from translate.precision import cpu_bf16
from translate.zoo import bundled_models_dir

SAMPLES = Path(__file__).resolve().parent.parent / "datasets" / "samples"
CALIBRATION = {"vangogh_A2B": SAMPLES / "photos_vangogh" / "photos", "sr_x4": SAMPLES / "sr" / "Set5"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--sr-side", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"bf16 instructions: {cpu_bf16() or 'none'}; load average {os.getloadavg()[0]:.2f}")
    rng = np.random.default_rng(0)
    for name, folder in CALIBRATION.items():
        path = bundled_models_dir() / f"{name}.safetensors"
        net, spec = load_model(path)
        side = args.sr_side if spec.scale > 1 else args.side
        pixels = rng.random((side, side, 3), dtype=np.float32)
        x_tensor = to_tensor(pixels, spec.value_range)[None]
        runs = {f"torch {p}": Translator.from_file(path, device="cpu", precision=p) for p in ("fp32", "auto")}
        reference = runs["torch fp32"].net
        with tempfile.TemporaryDirectory() as tmp:
            files = {"onnx fp32": export_onnx(net, spec, Path(tmp) / "fp32.onnx"),
                     "onnx fp16": export_onnx(net, spec, Path(tmp) / "fp16.onnx", fp16=True)}
            files["onnx int8"] = quantize_int8(files["onnx fp32"], Path(tmp) / "int8.onnx",
                                               calibration_inputs(folder, spec))
            sessions = {label: OnnxNet(session(f, provider="cpu")) for label, f in files.items()}
            images = calibration_inputs(folder, spec)
            with torch.inference_mode():
                expected = [reference(torch.from_numpy(i).contiguous(memory_format=runs["torch fp32"].memory_format))
                            .float().numpy() for i in images]
            low, high = spec.value_range
            print(f"\n{name}, {side}x{side} input (PSNR: the worst over the {len(images)} calibration images)")
            base = None
            for label, runner in {**runs, **sessions}.items():
                if label.startswith("torch"):
                    seconds = best_time(lambda r=runner, p=pixels: r(p), args.repeats)

                    def forward(i: np.ndarray, r: Translator = runner) -> np.ndarray:
                        with torch.inference_mode():
                            t = torch.from_numpy(i).to(r.dtype).contiguous(memory_format=r.memory_format)
                            return r.net(t).float().numpy()
                    label = f"{label} ({runner.precision.name})"
                else:
                    seconds = best_time(lambda r=runner, t=x_tensor: r(t), args.repeats)

                    def forward(i: np.ndarray, r: OnnxNet = runner) -> np.ndarray:
                        return r(torch.from_numpy(i)).numpy()
                base = base or seconds
                quality = min(psnr(forward(i), e, peak=high - low) for i, e in zip(images, expected))
                print(f"  {label:<18} {seconds:7.3f} s  {base / seconds:5.2f}x  PSNR vs torch fp32 "
                      f"{quality:6.1f} dB")

if __name__ == "__main__":
    main()
