"""``export-onnx``: a self-contained ONNX file of a generator, verified against PyTorch on export."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from translate.cli.common import ArgumentParser, parse, run_cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="export-onnx", description=__doc__ + " Dynamic batch/height/width, opset 18, "
                            "the model's spec as metadata; onnxruntime and PyTorch outputs are compared on two "
                            "input sizes (fp32 tolerance 1e-4, fp16 2e-2, relative to the value range).")
    parser.add_argument("model", help="model file (.safetensors), a run's models/ folder, or a bundled name")
    parser.add_argument("--out", help="output .onnx (default: beside the model, same name)")
    parser.add_argument("--fp16", action="store_true", help="float16 weights and arithmetic (float32 inputs/outputs)")
    parser.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"))
    args = parse(parser, argv)

    def body() -> int:
        from translate.checkpoint import load_model
        from translate.onnx import OPSET, export_onnx, verify
        from translate.zoo import resolve_model

        path = resolve_model(args.model, args.direction)
        net, spec = load_model(path)
        out = Path(args.out) if args.out else path.with_name(path.stem + ("-fp16" if args.fp16 else "") + ".onnx")
        export_onnx(net, spec, out, fp16=args.fp16)
        results = verify(net, spec, out, fp16=args.fp16)
        checks = ", ".join(f"{case}: max |diff| {diff:.1e}" for case, diff in results)
        print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, opset {OPSET}{', fp16' if args.fp16 else ''}); "
              f"onnxruntime vs PyTorch: {checks}")
        return 0

    return run_cli(body)
