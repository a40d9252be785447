"""CycleGAN training throughput through our recipe and loop context.

    python benchmarks/train_throughput.py [--steps 10] [--size 128] [--compile]

The network maths of the reference implementation (Zhu et al.'s pytorch-CycleGAN-and-pix2pix defaults):
ResNet-9 generators with ngf 64, 3-layer PatchGANs with ndf 64, instance norm, LSGAN, cycle and identity
losses, image pools, batch 1. Prints training images/s on the CPU (all threads) and, when CUDA is present,
at 256x256 with and without bf16 autocast / channels-last / torch.compile, each as a ratio to the reference
implementation's 0.24 images/s measured on this 2-core machine kind at 128x128.

On the CPU it times two algorithms for the same layers, losses and weights, their steps interleaved:
direct convolutions everywhere (what the reference runs, through the same oneDNN kernels) and our default,
where the residual blocks' 3x3 convolutions train through Winograd's F(4x4, 3x3) (translate/nets/winograd.py),
which needs a quarter of the multiplications. It counts the floating-point operations of one step of the
direct maths (torch's FlopCounterMode: convolutions and matrix products, forward and backward) and times a
large float32 matrix product, which runs near the machine's peak: direct convolutions reach about 70% of it,
so only fewer multiplications could go much faster, and the Winograd row's "GFLOP/s of direct maths" can
exceed the matmul's rate.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from translate.device import pick_amp_dtype
from translate.nets.winograd import direct_convolutions
from translate.training.cyclegan import CycleganConfig, CycleganRecipe
from translate.training.loop import to_device
from translate.training.recipe import TrainContext

REFERENCE_CPU_IMAGES_PER_S = 0.24


def write_noise_domains(folder: Path) -> None:
    """Two tiny unpaired domains, folder/a and folder/b, of four 300x300 noise images each: step times do not
    depend on what the pixels show."""
    rng = np.random.default_rng(0)
    for side in ("a", "b"):
        (folder / side).mkdir()
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)).save(folder / side / f"{i}.png")


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
            folder: Path, modes: tuple[str, ...] = ("default",)) -> tuple[dict[str, float], float]:
    """({mode: training images/s}, GFLOP per step of the network's maths, NaN under compile).

    Modes "direct" (every convolution direct, the reference's algorithm) and "default" (what training runs:
    Winograd residual blocks on the CPU) alternate step by step on one recipe, so both see the same spells
    of this machine's clock, which drifts by a fifth over seconds; the median step time of each is used."""
    config = CycleganConfig(domainA=str(folder / "a"), domainB=str(folder / "b"), crop=size, load_size=size,
                            ngf=64, n_blocks=9, ndf=64, upsample="transpose")
    dev = torch.device(device)
    ctx = TrainContext(dev, pick_amp_dtype(amp, dev), channels_last=channels_last, total_steps=steps)
    recipe = CycleganRecipe(config, ctx)
    ctx.bind(recipe)
    for net in recipe.nets.values():
        if channels_last:
            net.to(memory_format=torch.channels_last)
    recipe.train_nets = {k: torch.compile(n) if compile_ else n for k, n in recipe.nets.items()}
    data = recipe.dataset()
    batches = [to_device({k: v[None] for k, v in data[(i, i)].items()}, dev, channels_last)
               for i in range(len(modes) * (steps + 1) + 1)]

    def timed(mode: str, i: int) -> float:
        with direct_convolutions() if mode == "direct" else contextlib.nullcontext():
            if dev.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            recipe.step(batches[i], i)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter() - start

    counter = FlopCounterMode(display=False)
    with counter if not compile_ else contextlib.nullcontext(), direct_convolutions():
        recipe.step(batches[0], 0)  # warm-up, FLOPs of the direct maths counted
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    for i in range(steps + 1):
        for j, mode in enumerate(modes):
            elapsed = timed(mode, 1 + i * len(modes) + j)
            if i:  # the first round warms each mode up
                times[mode].append(elapsed)
    gflop = counter.get_total_flops() / 1e9 if not compile_ else float("nan")
    return {mode: 1 / statistics.median(t) for mode, t in times.items()}, gflop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--compile", action="store_true", help="also time the CPU step under torch.compile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_noise_domains(folder)
        peak = matmul_gflops()
        rates, gflop = measure(args.size, args.steps, "cpu", "off", False, False, folder, ("direct", "default"))
        label = f"cpu {torch.get_num_threads()} threads, {args.size}x{args.size}"
        for mode, what in (("direct", "direct convolutions (the reference's algorithm)"),
                           ("default", "Winograd residual blocks (what training runs)")):
            print(f"{label}, {what}: {rates[mode]:.3f} images/s = {rates[mode] / REFERENCE_CPU_IMAGES_PER_S:.2f}x "
                  f"the reference's {REFERENCE_CPU_IMAGES_PER_S}; {rates[mode] * gflop:.0f} GFLOP/s of the "
                  f"{gflop:.0f} GFLOP of direct maths per step = {rates[mode] * gflop / peak:.0%} of a 2048^2 "
                  f"float32 matmul's {peak:.0f} GFLOP/s")
        print(f"{label}: Winograd / direct = {rates['default'] / rates['direct']:.2f}x (steps interleaved)")
        if args.compile:
            rate = measure(args.size, args.steps, "cpu", "off", False, True, folder)[0]["default"]
            print(f"{label}, torch.compile (direct convolutions): {rate:.3f} images/s = "
                  f"{rate / REFERENCE_CPU_IMAGES_PER_S:.2f}x the reference's {REFERENCE_CPU_IMAGES_PER_S}")
        if torch.cuda.is_available():
            for amp, cl, comp in (("off", False, False), ("bf16", False, False), ("bf16", True, False),
                                  ("bf16", True, True)):
                rate = measure(256, args.steps * 5, "cuda", amp, cl, comp, folder)[0]["default"]
                print(f"cuda 256x256 amp={amp} channels_last={cl} compile={comp}: {rate:.2f} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
