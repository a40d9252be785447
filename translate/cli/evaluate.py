"""``evaluate-sr``: Y-channel PSNR/SSIM of a super-resolution model against bicubic on benchmark folders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from translate.cli.common import ArgumentParser, parse, run_cli
from translate.data.folders import samples_dir
from translate.errors import ConfigError
from translate.nets.srresnet import SCALES


def resolve_set(name: str) -> str:
    """A benchmark name shipped in datasets/samples/sr (e.g. Set5), or a folder path."""
    bundled = samples_dir() / "sr" / name
    return str(bundled) if bundled.is_dir() and not Path(name).is_dir() else name


def main_sr(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="evaluate-sr", description=__doc__ + " LR images are made by bicubic "
                            "downscaling (Pillow's antialiased bicubic, the kernel of MATLAB's imresize); "
                            "PSNR/SSIM on BT.601 Y with a border of `scale` pixels cropped.")
    parser.add_argument("--model", help="super-resolution model file (.safetensors); omit for bicubic only")
    parser.add_argument("--sets", nargs="+", default=["Set5"], help="benchmark names (Set5) or HR folders")
    parser.add_argument("--scale", type=int, help=f"one of {SCALES}; default: the model's, or 4")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = parse(parser, argv)

    def body() -> int:
        from translate.inference import Translator
        from translate.metrics import evaluate_sr_folder

        translator = None
        scale = args.scale or 4
        if args.model:
            translator = Translator.from_file(args.model, device=args.device, task="super-resolution")
            if args.scale and args.scale != translator.spec.scale:
                raise ConfigError(f"--scale {args.scale} does not match {args.model}, a x{translator.spec.scale} model")
            scale = translator.spec.scale
        if scale not in SCALES:
            raise ConfigError(f"--scale must be one of {', '.join(map(str, SCALES))}, got {scale}")
        header = f"{'set':<10} {'images':>6}  {'bicubic PSNR/SSIM':>18}"
        if translator:
            header += f"  {'model PSNR/SSIM':>18}  {'gain':>8}"
        print(f"x{scale}, Y channel, {scale}-pixel border")
        print(header)
        for name in args.sets:
            r = evaluate_sr_folder(resolve_set(name), scale, translator)
            line = f"{Path(name).name:<10} {r['images']:>6}  {r['bicubic_psnr']:>9.2f} / {r['bicubic_ssim']:.4f}"
            if translator:
                gain = r["model_psnr"] - r["bicubic_psnr"]
                line += f"  {r['model_psnr']:>9.2f} / {r['model_ssim']:.4f}  {gain:>+6.2f}dB"
            print(line)
        return 0

    return run_cli(body)
