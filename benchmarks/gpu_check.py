"""One command for a CUDA machine: the gpu tests, training images/s, inference ms per megapixel, a big output's
write time and peak GPU memory.

    PYTHONPATH=. python benchmarks/gpu_check.py               # about 5 minutes on one GPU (6 at most)
    PYTHONPATH=. python benchmarks/gpu_check.py --full        # compiled rows at every batch too (longer)
    PYTHONPATH=. python benchmarks/gpu_check.py --cpu-smoke   # tiny sizes on the CPU: proves the script runs
    PYTHONPATH=. python benchmarks/gpu_check.py --export-onnx DIR   # on a machine with onnx + onnxscript: write
                                                                    # the bundled models as DIR/NAME.onnx

Needs only torch, torchvision, numpy, Pillow, safetensors and onnxruntime (pytest where installed, onnx and
onnxscript to export where installed; nothing else is imported). Without CUDA (and without --cpu-smoke) it says
so in one line and exits 0.

Training: the CycleGAN step at the reference implementation's maths (ResNet-9 generators ngf 64 with transposed
convolutions, 3-layer PatchGANs ndf 64, instance norm, LSGAN, cycle 10, identity 0.5, pools of 50), timed on one
batch kept on the GPU (data loading excluded), for crops 128 and 256 and batches 1, 4 and 8, as: eager float32
(TF32 allowed), bf16 autocast, bf16 + channels-last, that + torch.compile, and that + CUDA graphs
(torch.compile mode="reduce-overhead"). The ratio is to the reference's 10 images/s (junyanz's code, fp32,
batch 1, 256x256, on an H200). Then a pix2pix step (U-Net 256) and an SRGAN step (x4, crop 96, batch 16).

Inference: every bundled model, ms per input megapixel (one image of about 1 MP, 0.25 MP for x4 models, through
the Translator with its default tiling, host transfers included), PyTorch float32 and float16, onnxruntime's
CUDA provider and TensorRT (with --tensorrt; its engine build takes minutes) where they load: a provider is
reported only when session.get_providers() shows it really runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "datasets" / "samples"
REFERENCE_IMAGES_PER_S = 10.0
"""The reference CycleGAN implementation (fp32, batch 1, 256x256) on one H200, measured before our GPU work."""


def say(line: str = "") -> None:
    print(line, flush=True)


class Budget:
    """Wall-clock budget: optional work is skipped, with a line, once it is spent."""

    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds

    def left(self) -> float:
        return self.end - time.perf_counter()


# ---------------------------------------------------------------------------------------------------- tests


def run_gpu_tests(smoke: bool, timeout: int) -> None:
    if importlib.util.find_spec("pytest") is None:
        say("gpu tests: pytest is not installed here; skipped (pip install pytest, then pytest -m gpu)")
        return
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
           str(REPO / "tests" / "test_gpu.py")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    started = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    except subprocess.TimeoutExpired as err:
        partial = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        say(f"gpu tests: still running after {timeout} s; stopped (run pytest -m gpu tests/test_gpu.py alone); "
            f"progress so far: {' '.join(partial.split())[:200]}")
        return
    lines = (done.stdout + done.stderr).strip().splitlines()
    summary = lines[-1] if lines else "(no output)"
    say(f"gpu tests ({time.perf_counter() - started:.0f} s): {summary}")
    if done.returncode not in (0, 5):
        for line in lines:
            if line.startswith(("FAILED", "ERROR", "E ")):
                say("  " + line[:300])
    elif smoke:
        say("  (on the CPU every gpu test is skipped: this only shows the suite collects and runs)")


# ------------------------------------------------------------------------------------------------- training


def _sample_domains(crop: int, tmp: Path) -> tuple[Path, Path]:
    """Two folders of sample images at least `crop` on the shorter side."""
    from PIL import Image

    out = []
    for name, source in (("a", SAMPLES / "photos_vangogh" / "photos"), ("b", SAMPLES / "photos_vangogh" / "vangogh")):
        folder = tmp / f"{name}{crop}"
        folder.mkdir(parents=True, exist_ok=True)
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:8]
        for i, path in enumerate(files):
            with Image.open(path) as im:
                im = im.convert("RGB")
                factor = max(1.0, crop / min(im.size))
                im.resize((round(im.size[0] * factor) + 1, round(im.size[1] * factor) + 1)).save(folder / f"{i}.png")
        out.append(folder)
    return out[0], out[1]


def _time_steps(step, device, warmup: int, steps: int) -> float:
    """Seconds per step, after `warmup` steps (compilation and graph capture happen there)."""
    import torch

    for i in range(warmup):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def _recipe_step(recipe_cls, config, device, amp, channels_last: bool, compile_mode: str | None, batch_size: int):
    """A step function on one fixed batch (already on the device), as the training loop would run it."""
    import torch
    from torch.utils.data import default_collate

    from translate.device import allow_tf32, pick_amp_dtype
    from translate.training.loop import to_device
    from translate.training.recipe import TrainContext

    allow_tf32(device)
    ctx = TrainContext(device, pick_amp_dtype(amp, device), channels_last=channels_last, total_steps=1000)
    recipe = recipe_cls(config, ctx)
    ctx.bind(recipe)
    if channels_last:
        for net in recipe.nets.values():
            net.to(memory_format=torch.channels_last)
    if compile_mode:
        recipe.train_nets = {k: torch.compile(n, mode=compile_mode) for k, n in recipe.nets.items()}
    data = recipe.dataset()
    batch = to_device(default_collate([data[(i % len(data), i)] for i in range(batch_size)]), device, channels_last)
    graphs = compile_mode == "reduce-overhead"

    def step(i: int) -> None:
        if graphs:
            torch.compiler.cudagraph_mark_step_begin()
        recipe.step(batch, i)

    return step


TRAIN_MODES = {  # label: (amp, channels_last, compile mode)
    "eager fp32 (TF32)": ("off", False, None),
    "bf16": ("bf16", False, None),
    "bf16 + channels-last": ("bf16", True, None),
    "+ torch.compile": ("bf16", True, "default"),
    "+ CUDA graphs": ("bf16", True, "reduce-overhead"),
}


def training_table(device, smoke: bool, full: bool, budget: Budget, tmp: Path) -> None:
    import torch

    from translate.training.cyclegan import CycleganConfig, CycleganRecipe

    crops, batches = ((32,), (1, 2)) if smoke else ((256, 128), (1, 4, 8))  # 256 first: the headline figure
    warmup, steps = (1, 2) if smoke else (3, 10)
    size = {"ngf": 8, "n_blocks": 1, "ndf": 8} if smoke else {"ngf": 64, "n_blocks": 9, "ndf": 64}
    say(f"\nCycleGAN training step, images/s (ratio to the reference's {REFERENCE_IMAGES_PER_S:g} images/s; "
        "peak GPU memory)")
    say(f"{'mode':<22} {'crop':>4} {'batch':>5} {'images/s':>9} {'ratio':>6} {'peak GiB':>8}")
    configs = {}
    for crop in crops:
        a, b = _sample_domains(crop, tmp)
        configs[crop] = CycleganConfig(domainA=str(a), domainB=str(b), crop=crop, load_size=crop,
                                       upsample="transpose", min_items=8, **size)
    # eager rows first (seconds each), then the compiled ones (about a minute each), largest crop first: what
    # the time budget cuts is the least informative
    jobs = [(label, crop, batch) for compiled in (False, True) for crop in crops for label, mode in TRAIN_MODES.items()
            if bool(mode[2]) == compiled for batch in batches]
    for label, crop, batch in jobs:
        amp, channels_last, compile_mode = TRAIN_MODES[label]
        row = f"{label:<22} {crop:>4} {batch:>5}"
        if compile_mode and device.type != "cuda":
            say(f"{row} {'needs CUDA':>9}")
            continue
        if compile_mode and batch > 1 and not full:
            say(f"{row} {'(--full)':>9}")
            continue
        if budget.left() < (150 if compile_mode else 15):  # compiled rows leave time for the inference table
            say(f"{row} {'(time)':>9}")
            continue
        step = None
        try:
            torch._dynamo.reset()
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            started = time.perf_counter()
            step = _recipe_step(CycleganRecipe, configs[crop], device, amp, channels_last, compile_mode, batch)
            rate = batch / _time_steps(step, device, warmup, steps)
            peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
            note = f"  (compile and capture: {time.perf_counter() - started:.0f} s in all)" if compile_mode else ""
            say(f"{row} {rate:>9.1f} {rate / REFERENCE_IMAGES_PER_S:>5.1f}x {peak:>8.2f}{note}")
        except Exception as err:  # noqa: BLE001 - one failing mode must not hide the others
            say(f"{row} failed: {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}")
        finally:
            del step


def other_steps(device, smoke: bool, budget: Budget, tmp: Path) -> None:
    """pix2pix (U-Net 256, batch 1, 256x256) and SRGAN (x4, crop 96, batch 16), eager and bf16 + channels-last."""
    from translate.training.pix2pix import Pix2pixConfig, Pix2pixRecipe
    from translate.training.srgan import SrganConfig, SrganRecipe

    crop = 32 if smoke else 256
    pairs = tmp / "pairs"
    if not pairs.exists():
        a, b = _sample_domains(crop, tmp)
        (pairs / "A").mkdir(parents=True)
        (pairs / "B").mkdir()
        from PIL import Image

        targets = sorted(b.iterdir())
        for i, path in enumerate(sorted(a.iterdir())[:4]):  # pairs of unrelated images time the same
            with Image.open(path) as im, Image.open(targets[i % len(targets)]) as target:
                im.save(pairs / "A" / f"{i}.png")
                target.convert("RGB").resize(im.size).save(pairs / "B" / f"{i}.png")
    p2p = Pix2pixConfig(data=str(pairs), crop=crop, load_size=crop, unet_downs=5 if smoke else 8,
                        ngf=8 if smoke else 64, ndf=8 if smoke else 64, min_items=4)
    sr_crop, sr_batch = (32, 2) if smoke else (96, 16)
    sr = SrganConfig(data=str(tmp / f"a{crop}"), crop=sr_crop, stage="gan", content_loss="feature_matching",
                     init=str(REPO / "translate" / "weights" / "sr_x4.safetensors"), d_channels=8 if smoke else 64)
    say(f"\nOther recipes' steps, images/s{' (tiny sizes)' if smoke else ''}")
    for name, cls, config, batch in (("pix2pix", Pix2pixRecipe, p2p, 1), ("srgan", SrganRecipe, sr, sr_batch)):
        for label, (amp, channels_last, compile_mode) in list(TRAIN_MODES.items())[:3]:
            if budget.left() < 15:
                say(f"{name:<8} {label:<22} (time)")
                continue
            try:
                step = _recipe_step(cls, config, device, amp, channels_last, compile_mode, batch)
                rate = batch / _time_steps(step, device, 1 if smoke else 3, 2 if smoke else 10)
                say(f"{name:<8} {label:<22} batch {batch:>2}: {rate:8.1f} images/s")
            except Exception as err:  # noqa: BLE001
                say(f"{name:<8} {label:<22} failed: {type(err).__name__}: {str(err).splitlines()[0][:160]}")


# ------------------------------------------------------------------------------------------------ inference


def export_bundled(folder: Path) -> int:
    """Write each bundled image model as folder/NAME.onnx (needs onnx and onnxscript)."""
    from translate.checkpoint import load_model
    from translate.onnx import export_onnx
    from translate.zoo import list_models

    folder.mkdir(parents=True, exist_ok=True)
    for entry in list_models()[0]:
        if entry.spec.task in ("translation", "super-resolution"):
            net, spec = load_model(entry.path)
            export_onnx(net, spec, folder / f"{entry.name}.onnx")
            say(f"wrote {folder / entry.name}.onnx")
    return 0


def _onnx_file(entry, onnx_dir: Path | None, tmp: Path) -> tuple[Path | None, str]:
    if onnx_dir is not None and (onnx_dir / f"{entry.name}.onnx").is_file():
        return onnx_dir / f"{entry.name}.onnx", ""
    if importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxscript") is None:
        return None, "no .onnx: export needs onnx + onnxscript (or pass --onnx-dir from --export-onnx)"
    from translate.checkpoint import load_model
    from translate.onnx import export_onnx

    net, spec = load_model(entry.path)
    return export_onnx(net, spec, tmp / f"{entry.name}.onnx"), ""


def _ort_session(path: Path, provider: str):
    """A session whose first provider really is `provider`, else (None, why)."""
    import onnxruntime as ort

    if provider not in ort.get_available_providers():
        return None, "not in this onnxruntime build"
    if hasattr(ort, "preload_dlls"):
        with contextlib.suppress(Exception):
            ort.preload_dlls()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        fallback = [] if provider == "CPUExecutionProvider" else ["CPUExecutionProvider"]
        sess = ort.InferenceSession(str(path), options, providers=[provider, *fallback])
    except Exception as err:  # noqa: BLE001 - onnxruntime raises untyped errors
        return None, f"does not load ({str(err).splitlines()[0][:120]})"
    if sess.get_providers()[0] != provider:
        return None, "does not load (fell back to the CPU)"
    return sess, ""


def inference_table(device, smoke: bool, tensorrt: bool, onnx_dir: Path | None, budget: Budget, tmp: Path) -> None:
    import torch

    from translate.checkpoint import load_model
    from translate.data.io import read_image
    from translate.data.resize import bicubic_resize
    from translate.inference import Translator
    from translate.onnx import OnnxNet, read_spec
    from translate.zoo import list_models

    source = read_image(SAMPLES / "realworld_lq" / "0014.jpg").pixels
    say("\nInference, ms per input megapixel (median of 3 after a warm-up; host transfers included)")
    say(f"{'model':<14} {'input':>9} {'backend':<28} {'ms/MP':>8}")
    for entry in list_models()[0]:
        spec = entry.spec
        if spec.task not in ("translation", "super-resolution"):
            if spec.task == "generation" and device.type == "cuda":
                net, _ = load_model(entry.path, device=device)
                z = torch.randn(64, spec.latent_dim, device=device)
                labels = torch.arange(64, device=device) % len(spec.labels) if spec.labels else None
                with torch.inference_mode():
                    ms = 1000 * _median(lambda n=net, z=z, y=labels: (n(z, y), torch.cuda.synchronize()), 3)
                say(f"{entry.name:<14} {'64 draws':>9} {'torch fp32':<28} {ms:>7.2f} ms per 64 samples")
            continue
        side = (64, 48) if smoke else ((576, 432) if spec.scale > 1 else (1152, 864))
        pixels = bicubic_resize(source, side, quantize=False)
        mp = side[0] * side[1] / 1e6
        label = f"{side[0]}x{side[1]}"
        runs = [("torch fp32", lambda e=entry: Translator.from_file(e.path, device=device.type))]
        if device.type == "cuda":
            runs.append(("torch fp16", lambda e=entry: Translator.from_file(e.path, device="cuda", half=True)))
        providers = (["CPUExecutionProvider"] if smoke else
                     ["CUDAExecutionProvider"] + (["TensorrtExecutionProvider"] if tensorrt else []))
        for name, make in runs:
            if budget.left() < 10:
                say(f"{entry.name:<14} {label:>9} {name:<28} (time)")
                continue
            translator = make()
            ms = 1000 * _median(lambda t=translator, x=pixels: t(x), 3) / mp
            say(f"{entry.name:<14} {label:>9} {name:<28} {ms:>8.1f}")
        if importlib.util.find_spec("onnxruntime") is None:
            say(f"{entry.name:<14} {label:>9} {'onnxruntime':<28} not installed")
            continue
        path, why = _onnx_file(entry, onnx_dir, tmp) if budget.left() > 30 else (None, "(time)")
        for provider in providers:
            short = provider.removesuffix("ExecutionProvider")
            if path is None:
                say(f"{entry.name:<14} {label:>9} {'onnxruntime ' + short:<28} {why}")
                continue
            sess, why_not = _ort_session(path, provider)
            if sess is None:
                say(f"{entry.name:<14} {label:>9} {'onnxruntime ' + short:<28} {why_not}")
                continue
            translator = Translator(OnnxNet(sess), read_spec(sess, path), torch.device("cpu"), backend="onnx")
            ms = 1000 * _median(lambda t=translator, x=pixels: t(x), 3) / mp
            say(f"{entry.name:<14} {label:>9} {'onnxruntime ' + short:<28} {ms:>8.1f}")


def _median(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def big_output(device, smoke: bool, tmp: Path) -> None:
    """The reported case: x4 super-resolution of a 2000x1500 photo (a 48 MP output), computed and written."""
    import torch

    from translate.data.io import read_image, write_image
    from translate.data.resize import bicubic_resize
    from translate.inference import Translator

    side = (50, 40) if smoke else (2000, 1500)
    pixels = bicubic_resize(read_image(SAMPLES / "realworld_lq" / "0014.jpg").pixels, side, quantize=False)
    translator = Translator.from_file(REPO / "translate" / "weights" / "sr_x4.safetensors", device=device.type)
    translator(pixels[:64, :64])  # warm-up
    start = time.perf_counter()
    out = translator(pixels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    compute = time.perf_counter() - start
    h, w = out.shape[:2]
    from PIL import Image

    from translate.data.png import to_8bit

    writes = []
    for write in (lambda: write_image(tmp / "big.png", out),  # what translate does now
                  lambda: Image.fromarray(to_8bit(out)).save(tmp / "big.png", compress_level=6)):  # before
        start = time.perf_counter()
        write()
        writes.append((time.perf_counter() - start, (tmp / "big.png").stat().st_size / 1e6))
    say(f"\nx4 of {side[0]}x{side[1]} -> {w}x{h} ({w * h / 1e6:.0f} MP) on {device}: compute {compute:.2f} s; "
        f"PNG write {writes[0][0]:.2f} s ({writes[0][1]:.0f} MB; what translate does now), before this "
        f"version {writes[1][0]:.2f} s ({writes[1][1]:.0f} MB; Pillow, one thread, level 6)")


# ----------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU, to check the script runs")
    parser.add_argument("--full", action="store_true", help="compiled modes at batch 4 and 8 too")
    parser.add_argument("--tensorrt", action="store_true", help="also onnxruntime's TensorRT provider (slow build)")
    parser.add_argument("--onnx-dir", type=Path, help="NAME.onnx files written by --export-onnx")
    parser.add_argument("--export-onnx", type=Path, metavar="DIR", help="export the bundled models and stop")
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--budget", type=float, default=210,
                        help="seconds of measuring (after the tests) after which optional rows are skipped")
    args = parser.parse_args(argv)
    if args.export_onnx:
        return export_bundled(args.export_onnx)

    import torch

    if not torch.cuda.is_available() and not args.cpu_smoke:
        say(f"gpu_check: no CUDA device here (torch {torch.__version__}); nothing to measure (--cpu-smoke runs a "
            "tiny version on the CPU)")
        return 0
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu_smoke else "cpu")
    what = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    ort = "not installed"
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        ort = f"{onnxruntime.__version__} ({', '.join(onnxruntime.get_available_providers())})"
    say(f"gpu_check {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {what}; Python "
        f"{platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda}), onnxruntime {ort}")
    if not args.skip_tests:
        run_gpu_tests(args.cpu_smoke, timeout=60 if args.cpu_smoke else 150)
    budget = Budget(args.budget)  # for the measurements, after the tests
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        training_table(device, args.cpu_smoke, args.full, budget, tmp)
        other_steps(device, args.cpu_smoke, budget, tmp)
        inference_table(device, args.cpu_smoke, args.tensorrt, args.onnx_dir, budget, tmp)
        big_output(device, args.cpu_smoke, tmp)
    if device.type == "cuda":
        say(f"\npeak GPU memory of the whole check: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB allocated "
            f"(the training rows above give each configuration's own peak)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
