"""``export-onnx``: a self-contained ONNX file of a generator, verified against PyTorch on export."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from translate.cli.common import ArgumentParser, model_help, parse, run_cli, tell

if TYPE_CHECKING:
    from torch import nn

    from translate.model_spec import ModelSpec


CPU_CHOICE = ("Which to pick for a CPU: --int8 for super-resolution (sr_x4: 1.44x PyTorch fp32, 1.14x the fp32 "
              "export, 49.9 dB from PyTorch), the fp32 export for translators (vangogh: 2.0x PyTorch fp32; its "
              "int8 file is refused at 21.5 dB). Not fp16: half the file, no faster on onnxruntime's CPU kernels. "
              "On a CPU with bf16 instructions (AMX, AVX-512 BF16), PyTorch under translate --precision auto came "
              "within 15% of the best export. Measured on a shared 2-core Xeon with AMX: docs/cpu-speed.md, "
              "benchmarks/onnx_cpu.py.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="export-onnx", description=__doc__ + " Dynamic batch/height/width, opset 18, "
                            "the model's spec as metadata; onnxruntime and PyTorch outputs are compared on two "
                            "input sizes (fp32 tolerance 1e-4, fp16 2e-2, relative to the value range); an --int8 "
                            "file is checked on the calibration images instead (PSNR against PyTorch >= 30 dB).",
                            epilog=CPU_CHOICE)
    parser.add_argument("model", help=model_help("the model to export"))
    parser.add_argument("--out", help="output .onnx (default: beside the model, same name; for a bundled model, "
                        "in the current folder)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16"),
                        help="arithmetic of the export: fp32 (default) or fp16 (float16 weights and arithmetic, "
                        "float32 inputs/outputs; the same as --fp16). For a CPU, see the epilogue")
    parser.add_argument("--fp16", action="store_true", help="the same as --precision fp16")
    parser.add_argument("--int8", metavar="DIR", help="int8 static quantisation (faster on CPUs), calibrated on the "
                        "images in DIR: a few of the kind the model will see (photos, low-resolution images)")
    parser.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"),
                        help="for a CycleGAN pair: which generator to export (default: AtoB)")
    args = parse(parser, argv)
    args.fp16 = args.fp16 or args.precision == "fp16"

    def body() -> int:
        from translate.checkpoint import load_model
        from translate.errors import ConfigError
        from translate.onnx import OPSET, export_onnx, verify
        from translate.zoo import bundled_models_dir, resolve_model

        if args.fp16 and args.int8:
            raise ConfigError("--fp16 and --int8 are alternatives; pick one")
        path = resolve_model(args.model, args.direction)
        if path.suffix.lower() == ".onnx":
            raise ConfigError(f"{path}: is an ONNX file already; export-onnx takes the .safetensors model")
        net, spec = load_model(path)
        variant = "-fp16" if args.fp16 else "-int8" if args.int8 else ""
        # beside the model, except a bundled one: the installed package is no place for a user's files
        beside = Path.cwd() if path.parent.resolve() == bundled_models_dir().resolve() else path.parent
        out = Path(args.out) if args.out else beside / (path.stem + variant + ".onnx")
        if args.model.startswith("hf://") and not args.out:  # not into huggingface_hub's cache: here, named after it
            out = Path(args.model.partition("@")[0].rsplit("/", 1)[-1] + variant + ".onnx")
        if out.suffix.lower() != ".onnx":
            raise ConfigError(f"--out {out}: an ONNX file's name must end in .onnx")
        if args.int8:
            return export_int8(net, spec, out, args.int8)
        export_onnx(net, spec, out, fp16=args.fp16)
        results = verify(net, spec, out, fp16=args.fp16)
        checks = ", ".join(f"{case}: max |diff| {diff:.1e}" for case, diff in results)
        tell(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, opset {OPSET}{', fp16' if args.fp16 else ''}); "
             f"onnxruntime vs PyTorch: {checks}", sys.stdout)
        return 0

    return run_cli(body)


def export_int8(net: nn.Module, spec: ModelSpec, out: Path, calibration: str) -> int:
    """Export fp32, check it, quantise with ranges from the calibration images, check the int8 file by PSNR."""
    import shutil
    import tempfile

    from translate.checkpoint import atomic_write
    from translate.onnx import ExportError, export_onnx, verify
    from translate.onnx_int8 import MIN_PSNR_DB, calibration_inputs, psnr_against_torch, quantize_int8

    inputs = calibration_inputs(calibration, spec)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(net, spec, Path(tmp) / "fp32.onnx")
        verify(net, spec, fp32)
        int8 = quantize_int8(fp32, Path(tmp) / "int8.onnx", inputs)
        psnr = psnr_against_torch(net, spec, int8, inputs)
        if psnr < MIN_PSNR_DB:  # checked before `out` is touched, so a file already there stays as it was
            raise ExportError(f"{out}: int8 output is only {psnr:.1f} dB from PyTorch's on {calibration} (needs "
                              f"{MIN_PSNR_DB:.0f}); this model does not quantise well, use the fp32 export")
        atomic_write(out, lambda target: shutil.copyfile(int8, target))
    tell(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, int8, calibrated on {len(inputs)} images of "
         f"{calibration}); onnxruntime vs PyTorch on them: PSNR >= {psnr:.1f} dB", sys.stdout)
    return 0
