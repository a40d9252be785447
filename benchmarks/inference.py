"""Inference speed and memory: PyTorch eager / channels-last / compile vs onnxruntime, CPU and CUDA.

    python benchmarks/inference.py [--repeats 5] [--compile] [--skip-4k]

Prints ms per image for a ResNet-9 CycleGAN generator (ngf 64) at 512x512 and an SRResNet x4 (16 blocks,
64 channels, the paper's size) on Set5's baby (128x128 LR -> 512x512), each backend's ratio to PyTorch
eager, and the peak resident memory of a tiled x4 super-resolution run producing a 3840x2160 image.
Also an int8 onnxruntime file (export-onnx --int8), calibrated on bundled sample images, with its PSNR against
PyTorch. Weights are random: speed does not depend on them. Run on an idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from translate.model_spec import ModelSpec
from translate.nets import GENERATORS
from translate.onnx import OnnxNet, export_onnx, session
from translate.onnx_int8 import calibration_inputs, psnr_against_torch, quantize_int8

REPO = Path(__file__).resolve().parent.parent
CASES = {
    "cyclegan resnet-9 512x512": ("resnet", {"ngf": 64, "n_blocks": 9, "upsample": "transpose"},
                                  dict(task="translation", size_multiple=4, domains=("a", "b")), (512, 512),
                                  "photos_vangogh/photos"),
    "srresnet x4 128->512": ("srresnet", {"scale": 4, "n_blocks": 16, "channels": 64},
                             dict(task="super-resolution", scale=4, value_range=(0.0, 1.0)), (128, 128), "sr/Set5"),
}


def timed(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, kernel choice, compilation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench_case(name: str, repeats: int, compile_: bool, folder: Path) -> None:
    arch, kwargs, spec_kwargs, (h, w), calibration = CASES[name]
    torch.manual_seed(0)
    net = GENERATORS[arch](**kwargs).eval()
    spec = ModelSpec(arch=arch, arch_kwargs=kwargs, in_channels=3, out_channels=3, **spec_kwargs)
    x = torch.rand(1, 3, h, w)
    results: dict[str, float] = {}
    with torch.inference_mode():
        results["torch eager fp32"] = timed(lambda: net(x), repeats)
        cl_net = GENERATORS[arch](**kwargs).eval().to(memory_format=torch.channels_last)
        cl_net.load_state_dict(net.state_dict())
        x_cl = x.contiguous(memory_format=torch.channels_last)
        results["torch channels_last"] = timed(lambda: cl_net(x_cl), repeats)
        if compile_:
            compiled = torch.compile(net)
            results["torch compile"] = timed(lambda: compiled(x), repeats)
    path = export_onnx(net, spec, folder / f"{arch}.onnx")
    for threads in (0, torch.get_num_threads()):
        ort_net = OnnxNet(session(path, provider="cpu", threads=threads))
        results[f"onnxruntime cpu ({threads or 'default'} threads)"] = timed(lambda o=ort_net: o(x), repeats)
    inputs = calibration_inputs(REPO / "datasets" / "samples" / calibration, spec)
    int8_path = quantize_int8(path, folder / f"{arch}-int8.onnx", inputs)
    int8_net = OnnxNet(session(int8_path, provider="cpu", threads=torch.get_num_threads()))
    results["onnxruntime cpu int8"] = timed(lambda: int8_net(x), repeats)
    int8_psnr = psnr_against_torch(net, spec, int8_path, inputs)
    if torch.cuda.is_available():
        gpu = net.cuda()
        xg = x.cuda()

        def cuda_run(dtype):
            def run():
                with torch.inference_mode(), torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
                    gpu(xg)
                torch.cuda.synchronize()
            return run

        for label, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16)):
            results[f"torch cuda {label}"] = timed(cuda_run(dtype), repeats)
        for label, fp16 in (("fp32", False), ("fp16", True)):
            p = export_onnx(net.float().cpu(), spec, folder / f"{arch}-{label}.onnx", fp16=fp16)
            sess = session(p, provider="cuda")
            feed = {sess.get_inputs()[0].name: x.numpy()}
            results[f"onnxruntime cuda {label}"] = timed(lambda s=sess, f=feed: s.run(None, f), repeats)
    base = results["torch eager fp32"]
    print(f"\n{name}")
    for label, ms in results.items():
        print(f"  {label:<34} {ms:9.1f} ms/image   {base / ms:5.2f}x vs torch eager")
    print(f"  int8 output vs PyTorch on {calibration}: PSNR {int8_psnr:.1f} dB (random weights: the quality "
          "of a trained model's int8 export is what export-onnx --int8 checks)")


def peak_rss_4k() -> None:
    """Peak RSS of a child process that upscales a 960x540 image x4 (3840x2160 out) in tiles."""
    code = f"""
import resource, sys, numpy as np, torch
sys.path.insert(0, {str(REPO)!r})
from translate.model_spec import ModelSpec
from translate.inference import Translator
from translate.nets import GENERATORS
kwargs = {{"scale": 4, "n_blocks": 16, "channels": 64}}
spec = ModelSpec(task="super-resolution", arch="srresnet", arch_kwargs=kwargs, in_channels=3, out_channels=3,
                 value_range=(0.0, 1.0), scale=4)
t = Translator(GENERATORS["srresnet"](**kwargs), spec, torch.device("cpu"))
out = t(np.random.default_rng(0).random((540, 960, 3), dtype=np.float32))
assert out.shape == (2160, 3840, 3)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024)
"""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    print(f"\ntiled x4 SR to 3840x2160 (tile 256, overlap 32): peak RSS {float(done.stdout):.2f} GiB "
          f"(goal <= 2 GiB), {time.perf_counter() - start:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to warm up)")
    parser.add_argument("--skip-4k", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA'}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            bench_case(name, args.repeats, args.compile, Path(tmp))
    if not args.skip_4k:
        peak_rss_4k()
    return 0


if __name__ == "__main__":
    sys.exit(main())
