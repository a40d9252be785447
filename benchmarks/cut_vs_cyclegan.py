"""Training speed of CUT and FastCUT against CycleGAN at the same settings, on the CPU.

    OMP_NUM_THREADS=1 python benchmarks/cut_vs_cyclegan.py [--steps 10] [--size 128] [--ngf 64] [--n-blocks 9]

The three recipes' steps run interleaved (one CUT step, one FastCUT step, one CycleGAN step, and again), so
all see the same spells of this machine's drifting clock; each one's median step time gives its images/s.
Same crop, batch 1, generator (ResNet, instance norm, transposed-convolution upsampling unless told
--upsample resize) and 3-layer PatchGAN; each recipe's own losses at its paper settings (CycleGAN: two
generators, two discriminators, cycle and identity losses, image pools; CUT: one generator and
discriminator, PatchNCE on 5 layers x 256 patches with identity NCE; FastCUT: no identity NCE, flip
equivariance). Also prints each step's floating-point operations (torch's FlopCounterMode over the direct
maths, forward and backward), which do not depend on the machine. Park et al. 2020 report CUT about 1.6x
faster per iteration than CycleGAN.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from train_throughput import write_noise_domains  # a sibling script: its folder is on sys.path when run

from translate.nets.winograd import direct_convolutions
from translate.training.cut import CutConfig, CutRecipe
from translate.training.cyclegan import CycleganConfig, CycleganRecipe
from translate.training.loop import seed_everything
from translate.training.recipe import Recipe, TrainContext

MODES = ("cut", "fastcut", "cyclegan")


def build(mode: str, folder: Path, size: int, ngf: int, n_blocks: int, upsample: str) -> Recipe:
    shared = dict(domainA=str(folder / "a"), domainB=str(folder / "b"), crop=size, load_size=size, ngf=ngf,
                  n_blocks=n_blocks, ndf=64, upsample=upsample)
    if mode == "cyclegan":
        recipe_cls, config = CycleganRecipe, CycleganConfig(**shared)
    else:
        fast = dict(nce_identity=False, flip_equivariance=True, lambda_nce=10.0) if mode == "fastcut" else {}
        layers = tuple(i for i in (0, 4, 7, 10, 14) if i < 10 + n_blocks)
        recipe_cls, config = CutRecipe, CutConfig(**shared, nce_layers=layers, **fast)
    ctx = TrainContext(torch.device("cpu"))
    recipe = recipe_cls(config, ctx)
    ctx.bind(recipe)
    return recipe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps of each recipe (after one warm-up)")
    parser.add_argument("--size", type=int, default=128, help="crop size")
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--n-blocks", type=int, default=9)
    parser.add_argument("--upsample", default="transpose", choices=("transpose", "resize"))
    args = parser.parse_args()
    seed_everything(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_noise_domains(folder)
        recipes = {mode: build(mode, folder, args.size, args.ngf, args.n_blocks, args.upsample) for mode in MODES}
        data = recipes["cut"].dataset()
        batches = [{k: v[None] for k, v in data[(i, i)].items()} for i in range(args.steps + 2)]
        gflop = {}
        for mode, recipe in recipes.items():
            counter = FlopCounterMode(display=False)
            with counter, direct_convolutions():
                recipe.step(batches[0], 0)  # warm-up, FLOPs of the direct maths counted
            gflop[mode] = counter.get_total_flops() / 1e9
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        for i in range(1, args.steps + 2):
            for mode, recipe in recipes.items():
                start = time.perf_counter()
                recipe.step(batches[i], i)
                if i > 1:  # the first round warms up the training algorithms (Winograd residual blocks)
                    times[mode].append(time.perf_counter() - start)
    rates = {mode: 1 / statistics.median(t) for mode, t in times.items()}
    label = (f"cpu {torch.get_num_threads()} thread(s), {args.size}x{args.size}, batch 1, ngf {args.ngf}, "
             f"{args.n_blocks} blocks, {args.upsample}")
    print(label)
    for mode in MODES:
        print(f"  {mode:9s} {rates[mode]:.3f} images/s  {gflop[mode]:6.1f} GFLOP/step "
              f"(median of {len(times[mode])} interleaved steps)")
    for mode in ("cut", "fastcut"):
        print(f"  {mode} / cyclegan: {rates[mode] / rates['cyclegan']:.2f}x images/s, "
              f"{gflop['cyclegan'] / gflop[mode]:.2f}x fewer FLOPs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
