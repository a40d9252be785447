"""Super-resolution speed: training patches/s, x4 inference time per Set5 image and for a 512x512 input.

    python benchmarks/sr.py [--model translate/weights/sr_x4.safetensors] [--steps 5]

Training: the SRResNet of the model's spec (or 16 blocks x 64 channels), 96x96 HR patches, batch 16, L1, on
the CPU and, when CUDA is present, in fp32 and bf16 autocast. Inference: each Set5 image downscaled x4
and upscaled by torch eager, torch channels-last (what the Translator uses for SR) and onnxruntime; then one
512x512 input (a 2048x2048 output), with the multiply-adds its convolutions cost, counted by forward hooks.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from translate.checkpoint import load_model
from translate.data.io import list_images, read_image
from translate.data.resize import bicubic_resize, mod_crop
from translate.model_spec import ModelSpec
from translate.nets import GENERATORS
from translate.onnx import OnnxNet, export_onnx, session

SET5 = Path(__file__).resolve().parent.parent / "datasets" / "samples" / "sr" / "Set5"


def train_rate(kwargs: dict, device: str, amp: torch.dtype | None, steps: int) -> float:
    net = GENERATORS["srresnet"](**kwargs).to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    lr, hr = torch.rand(16, 3, 24, 24, device=device), torch.rand(16, 3, 96, 96, device=device)

    def step() -> None:
        with torch.autocast(device, dtype=amp or torch.float32, enabled=amp is not None):
            loss = F.l1_loss(net(lr).float(), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return 16 * steps / (time.perf_counter() - start)


def conv_macs(net: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of every convolution in one forward pass of `x`."""
    total = 0

    def count(module: torch.nn.Conv2d, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        total += output.numel() * per_output

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        net(x)
    for hook in hooks:
        hook.remove()
    return total


def timed(run: Callable[[torch.Tensor], object], x: torch.Tensor) -> float:
    start = time.perf_counter()
    run(x)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="an SR model file (default: a random 16x64 SRResNet x4)")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    if args.model:
        net, spec = load_model(args.model, task="super-resolution")
    else:
        kwargs = {"scale": 4, "n_blocks": 16, "channels": 64}
        net = GENERATORS["srresnet"](**kwargs).eval()
        spec = ModelSpec(task="super-resolution", arch="srresnet", arch_kwargs=kwargs, in_channels=3,
                         out_channels=3, value_range=(0.0, 1.0), scale=4)
    print(f"srresnet {spec.arch_kwargs}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"training, cpu fp32: {train_rate(spec.arch_kwargs, 'cpu', None, args.steps):.1f} patches/s")
    if torch.cuda.is_available():
        for label, amp in (("fp32", None), ("bf16", torch.bfloat16)):
            print(f"training, cuda {label}: {train_rate(spec.arch_kwargs, 'cuda', amp, args.steps * 10):.0f} patches/s")
    images = [mod_crop(read_image(p).pixels, spec.scale) for p in list_images(SET5)]
    lrs = [bicubic_resize(hr, (hr.shape[1] // spec.scale, hr.shape[0] // spec.scale)) for hr in images]
    tensors = [torch.from_numpy(lr.transpose(2, 0, 1)).float()[None] for lr in lrs]
    cl = GENERATORS["srresnet"](**spec.arch_kwargs).eval().to(memory_format=torch.channels_last)
    cl.load_state_dict(net.state_dict())
    with tempfile.TemporaryDirectory() as tmp:
        ort_net = OnnxNet(session(export_onnx(net.cpu(), spec, Path(tmp) / "sr.onnx"), provider="cpu"))
        runners = {"torch eager": lambda x: net(x), "torch channels_last":
                   lambda x: cl(x.contiguous(memory_format=torch.channels_last)), "onnxruntime cpu": ort_net}
        results = {}
        with torch.inference_mode():
            for name, run in runners.items():
                run(tensors[0])
                results[name] = 1000 * statistics.mean(timed(run, x) for x in tensors)
            big = torch.rand(1, 3, 512, 512)
            big_results = {name: min(timed(run, big) for _ in range(2)) for name, run in runners.items()}
    base = results["torch eager"]
    for name, ms in results.items():
        print(f"x{spec.scale} inference on Set5, {name:<20} {ms:8.1f} ms/image  {base / ms:5.2f}x vs eager")
    macs = conv_macs(net, big)
    base = big_results["torch eager"]
    for name, seconds in big_results.items():
        print(f"x{spec.scale} inference of a 512x512 input, {name:<20} {seconds:6.2f} s  {base / seconds:5.2f}x vs "
              f"eager  ({macs / 1e9:.0f} GMAC, {macs / 1e9 / seconds:.0f} GMAC/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
