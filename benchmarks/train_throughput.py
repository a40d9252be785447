"""CycleGAN training throughput through our recipe and loop context.

    python benchmarks/train_throughput.py [--steps 10] [--size 128] [--compile]

The network maths of the reference implementation (Zhu et al.'s pytorch-CycleGAN-and-pix2pix defaults):
ResNet-9 generators with ngf 64, 3-layer PatchGANs with ndf 64, instance norm, LSGAN, cycle and identity
losses, image pools, batch 1. Prints training images/s on the CPU (all threads) and, when CUDA is present,
at 256x256 with and without bf16 autocast / channels-last / torch.compile, each as a ratio to the reference
implementation's 0.24 images/s measured on this 2-core machine kind at 128x128.

It also counts the floating-point operations of one CPU training step (torch's FlopCounterMode: the
convolutions and matrix products, forward and backward) and times a large float32 matrix product, which
runs near the machine's peak. The ratio of the two rates says how much headroom the same maths has left.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from translate.training.config import LoopConfig
from translate.training.cyclegan import CycleganConfig, CycleganRecipe
from translate.training.loop import pick_amp_dtype, to_device
from translate.training.recipe import TrainContext

REFERENCE_CPU_IMAGES_PER_S = 0.24


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """float32 GFLOP/s of an n x n matrix product, the best of `repeats`: about the most this CPU's BLAS gets."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def measure(size: int, steps: int, device: str, amp: str, channels_last: bool, compile_: bool,
            folder: Path) -> tuple[float, float]:
    """(training images/s, GFLOP per step counted on the first warm-up step; NaN under compile)."""
    config = CycleganConfig(domainA=str(folder / "a"), domainB=str(folder / "b"), crop=size, load_size=size,
                            ngf=64, n_blocks=9, ndf=64, upsample="transpose")
    dev = torch.device(device)
    loop = LoopConfig(device=device, amp=amp, channels_last=channels_last, compile=compile_)
    ctx = TrainContext(dev, pick_amp_dtype(amp, dev), channels_last=channels_last, total_steps=steps)
    recipe = CycleganRecipe(config, ctx)
    ctx.bind(recipe)
    for net in recipe.nets.values():
        if channels_last:
            net.to(memory_format=torch.channels_last)
    recipe.train_nets = {k: torch.compile(n) if compile_ else n for k, n in recipe.nets.items()}
    data = recipe.dataset()
    batches = [to_device({k: v[None] for k, v in data[(i, i)].items()}, dev, channels_last) for i in range(steps + 2)]
    counter = FlopCounterMode(display=False)
    with counter if not compile_ else contextlib.nullcontext():
        recipe.step(batches[0], 0)  # warm-up, FLOPs counted
    recipe.step(batches[1], 1)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(2, steps + 2):
        recipe.step(batches[i], i)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    del loop
    return steps / (time.perf_counter() - start), counter.get_total_flops() / 1e9 if not compile_ else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--compile", action="store_true", help="also time the CPU step under torch.compile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(0)
        for side in ("a", "b"):
            (folder / side).mkdir()
            for i in range(4):
                Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)).save(folder / side / f"{i}.png")
        peak = matmul_gflops()
        for compile_ in (False, True) if args.compile else (False,):
            rate, counted = measure(args.size, args.steps, "cpu", "off", False, compile_, folder)
            if not compile_:  # the eager run comes first; compile runs the same maths
                gflop = counted
            print(f"cpu {torch.get_num_threads()} threads, {args.size}x{args.size}, compile={compile_}: "
                  f"{rate:.3f} images/s = {rate / REFERENCE_CPU_IMAGES_PER_S:.2f}x the reference's "
                  f"{REFERENCE_CPU_IMAGES_PER_S}; {gflop:.0f} GFLOP per step, {rate * gflop:.0f} GFLOP/s = "
                  f"{rate * gflop / peak:.0%} of a 2048^2 float32 matmul's {peak:.0f} GFLOP/s")
        if torch.cuda.is_available():
            for amp, cl, comp in (("off", False, False), ("bf16", False, False), ("bf16", True, False),
                                  ("bf16", True, True)):
                rate, _ = measure(256, args.steps * 5, "cuda", amp, cl, comp, folder)
                print(f"cuda 256x256 amp={amp} channels_last={cl} compile={comp}: {rate:.2f} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
