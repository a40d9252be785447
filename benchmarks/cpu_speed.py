"""The CPU at its real speed: the machine's measured peak, then every bundled image model and one CycleGAN
training step in float32 and in the new default precision, side by side in one run.

    python benchmarks/cpu_speed.py [--side 1024] [--sr-side 512] [--repeats 2] [--train-steps 3]

Peak: the best of a few large matrix products (float32, bfloat16) and of a 64 -> 64 channel 3x3
convolution at 256x256 (float32 as the Translator runs translators, contiguous; float32 channels-last;
bf16 channels-last), in GMAC/s (multiply-adds per second). Models: each bundled model (one direction of
each pair) through the Translator, `--precision fp32` (exactly the path before the switch) against
`--precision auto` (bf16 on a CPU with bf16 instructions, translate.precision), on a `--side` square input
(`--sr-side` for super-resolution), the median of `--repeats` runs after a warm-up: seconds, seconds per
input megapixel, GMAC/s (convolution multiply-adds counted by torch's FlopCounterMode) and that as a share
of the bf16 convolution's rate. Training: the CPU vangogh2photo recipe's networks (ngf 32, 6 residual blocks,
resize upsampling, 70x70 PatchGAN, crop 128, batch 1): one CycleGAN step in float32 and under bf16
autocast, steps interleaved. The load average is printed first and last: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from translate.inference import Translator
from translate.precision import cpu_bf16
from translate.zoo import bundled_models_dir

MODELS = ("vangogh_A2B", "monet_A2B", "facades", "sr_x4")
"""One direction of each bundled pair (both directions share the architecture) and the single models."""


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def best_time(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def peak(repeats: int) -> dict[str, float]:
    """GMAC/s of the peak measurements, by label."""
    out = {}
    n = 2048
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        seconds = best_time(lambda a=a, b=b: a @ b, repeats)
        out[f"matmul {n}^3 {str(dtype).removeprefix('torch.')}"] = n**3 / seconds / 1e9
    x = torch.randn(1, 64, 256, 256)
    w = torch.randn(64, 64, 3, 3)
    macs = 64 * 64 * 9 * 256 * 256
    for label, dtype, fmt in (("float32", torch.float32, torch.contiguous_format),
                              ("float32 channels-last", torch.float32, torch.channels_last),
                              ("bf16 channels-last", torch.bfloat16, torch.channels_last)):
        xi, wi = x.to(dtype).contiguous(memory_format=fmt), w.to(dtype).contiguous(memory_format=fmt)
        with torch.inference_mode():
            seconds = best_time(lambda xi=xi, wi=wi: F.conv2d(xi, wi, padding=1), repeats * 3)
        out[f"conv 3x3 64->64 256x256 {label}"] = macs / seconds / 1e9
    return out


def conv_macs(translator: Translator, pixels: np.ndarray) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        translator(pixels)
    return counter.get_total_flops() / 2


def models(side: int, sr_side: int, repeats: int, conv_peak: float) -> None:
    rng = np.random.default_rng(0)
    print(f"\n{'model':<12} {'input':>9} {'precision':>9} {'seconds':>8} {'s/MP':>7} {'GMAC/s':>7} "
          f"{'of bf16 conv peak':>17} {'speed-up':>8}")
    for name in MODELS:
        path = bundled_models_dir() / f"{name}.safetensors"
        runs = {p: Translator.from_file(path, device="cpu", precision=p) for p in ("fp32", "auto")}
        s = sr_side if runs["fp32"].spec.scale > 1 else side
        pixels = rng.random((s, s, 3), dtype=np.float32)
        macs = conv_macs(runs["fp32"], pixels[:64, :64]) * (s / 64) ** 2  # convolutions scale with the pixels
        times = {}
        for label, translator in runs.items():
            translator(pixels)  # warm-up: oneDNN picks its kernels for this size
            measured = []
            for _ in range(repeats):
                start = time.perf_counter()
                translator(pixels)
                measured.append(time.perf_counter() - start)
            times[label] = statistics.median(measured)
        for label, seconds in times.items():
            chosen = runs[label].precision.name
            rate = macs / seconds / 1e9
            gain = f"{times['fp32'] / seconds:.2f}x" if label == "auto" else ""
            per_mp = seconds / (s * s / 1e6)
            print(f"{name:<12} {f'{s}x{s}':>9} {f'{label}={chosen}':>9} {seconds:>8.2f} {per_mp:>7.2f} "
                  f"{rate:>7.1f} {rate / conv_peak:>16.0%} {gain:>8}")


def training_step(steps: int) -> None:
    """One CycleGAN step of the CPU vangogh2photo recipe, fp32 and bf16 autocast, interleaved."""
    from PIL import Image

    from translate.training.cyclegan import CycleganConfig, CycleganRecipe
    from translate.training.loop import to_device
    from translate.training.recipe import TrainContext

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        for side in ("a", "b"):
            (Path(tmp) / side).mkdir()
            for i in range(2):
                Image.fromarray(rng.integers(0, 255, (160, 160, 3), dtype=np.uint8)).save(Path(tmp) / side / f"{i}.png")
        config = CycleganConfig(domainA=f"{tmp}/a", domainB=f"{tmp}/b", crop=128, load_size=128, ngf=32, n_blocks=6,
                                ndf=64, upsample="resize")
        recipes = {}
        for label, dtype in (("fp32", None), ("bf16 autocast", torch.bfloat16)):
            torch.manual_seed(0)
            ctx = TrainContext(torch.device("cpu"), dtype, total_steps=1000)
            recipe = CycleganRecipe(config, ctx)
            ctx.bind(recipe)
            recipe.train_nets = dict(recipe.nets)
            data = recipe.dataset()
            recipes[label] = (recipe, to_device({k: v[None] for k, v in data[(0, 0)].items()}, torch.device("cpu"),
                                                False))
        times: dict[str, list[float]] = {label: [] for label in recipes}
        for i in range(steps + 1):
            for label, (recipe, batch) in recipes.items():
                start = time.perf_counter()
                recipe.step(batch, i)
                if i:  # the first round warms each up
                    times[label].append(time.perf_counter() - start)
    print("\nCycleGAN training step (ngf 32, 6 blocks, resize upsampling, PatchGAN ndf 64, crop 128, batch 1)")
    base = statistics.median(times["fp32"])
    for label, measured in times.items():
        seconds = statistics.median(measured)
        print(f"  {label:<14} {seconds:.2f} s/step  ({base / seconds:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=1024, help="translators' square input side (default 1024: 1 MP)")
    parser.add_argument("--sr-side", type=int, default=512, help="super-resolution input side (default 512)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=3, help="timed training steps per precision (0: none)")
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}; {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} "
          f"threads; bf16 instructions: {cpu_bf16() or 'none'}")
    print(f"load average at start: {load()}")
    rates = peak(args.repeats)
    print("\npeak (GMAC/s)")
    for label, rate in rates.items():
        print(f"  {label:<40} {rate:7.1f}")
    models(args.side, args.sr_side, args.repeats, rates["conv 3x3 64->64 256x256 bf16 channels-last"])
    if args.train_steps:
        training_step(args.train_steps)
    print(f"\nload average at end: {load()}")


if __name__ == "__main__":
    main()
