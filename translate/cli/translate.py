"""``translate``: run a translation or super-resolution model on image files and folders of any size, or videos."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from translate.brush import BRUSHES
from translate.cli.common import (
    ArgumentParser,
    add_device_argument,
    add_precision_argument,
    model_help,
    parse,
    run_cli,
    tell,
)
from translate.cli.video import add_video_arguments, is_video_input, run_videos

FORMATS = ("png", "jpg", "webp")
MAX_OUTPUT_PIXELS = 256_000_000
"""Refuse outputs larger than this (16000 x 16000; 3 GB as float32), e.g. x4 super-resolution of a 16 MP photo
or more: say --resize instead of running for minutes and then running out of memory."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="translate", description=__doc__)
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image files and/or folders (recursive), or video files")
    parser.add_argument("--model", required=True,
                        help=model_help("the translation or super-resolution model") + "; e.g. vangogh, sr_x4")
    parser.add_argument("--out", help="output folder (default: beside each input, with a suffix)")
    parser.add_argument("--format", default="png", choices=FORMATS, help="output format (default png)")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    parser.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"),
                        help="for CycleGAN pairs: which generator (default AtoB)")
    parser.add_argument("--brush", default="medium", choices=tuple(BRUSHES),
                        help="stroke size of style models on big photos: fine (at the photo's own size: strokes a few "
                        "pixels wide), medium (at 512 pixels on the shorter side, then guided back to full size "
                        "along the photo's edges), large (at 320); smaller photos and other models run as they are "
                        "(default: medium)")
    parser.add_argument("--tile", type=int, help="largest input side run in one piece (0: never tile)")
    parser.add_argument("--tile-overlap", type=int, help="input pixels shared by neighbouring tiles")
    add_device_argument(parser)
    parser.add_argument("--provider", default="auto", choices=("auto", "cpu", "cuda"),
                        help=".onnx models: onnxruntime provider (cuda: an error if it cannot load)")
    parser.add_argument("--half", action="store_true", help="float16 on CUDA (PyTorch models)")
    add_precision_argument(parser)
    parser.add_argument("--16bit", dest="bits16", action="store_true", help="write 16-bit PNGs")
    parser.add_argument("--resize", type=int, metavar="SIDE", help="first scale each input so its longer side is SIDE")
    parser.add_argument("--png-level", type=int, choices=range(10), metavar="0-9",
                        help="PNG zlib level (default: 6, or 1 from 4 MP on, where 6 takes about 3x as long for a "
                             "file a quarter smaller)")
    parser.add_argument("--verbose", action="store_true",
                        help="print start-up time and, per image, the seconds spent reading, computing and writing")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (the summary line and any errors are still printed)")
    add_video_arguments(parser)
    args = parse(parser, argv)

    def body() -> int:
        started = time.perf_counter()
        from translate.brush import paint
        from translate.data.io import DEFAULT_MAX_PIXELS
        from translate.errors import ConfigError
        from translate.inference import IMAGE_TASKS, Translator
        from translate.pipeline import Limits, output_suffix, plan, translate_files
        from translate.zoo import resolve_model

        imported = time.perf_counter()
        if args.resize is not None and args.resize < 1:
            raise ConfigError(f"--resize must be at least 1, got {args.resize}")
        if args.bits16 and args.format != "png":
            raise ConfigError("--16bit needs --format png")
        if args.png_level is not None and args.format != "png":
            raise ConfigError(f"--png-level applies to PNG output, not --format {args.format}")
        model = resolve_model(args.model, args.direction, task=IMAGE_TASKS)
        translator = Translator.from_file(model, device=args.device, tile=args.tile, tile_overlap=args.tile_overlap,
                                          half=args.half, provider=args.provider, precision=args.precision)
        if args.verbose:
            print(f"start-up: imports {imported - started:.2f} s, model {time.perf_counter() - imported:.2f} s "
                  f"({translator.backend} on {translator.device}, {translator.precision.line()})", file=sys.stderr)
        if any(is_video_input(i) for i in args.inputs):
            return run_videos(args, translator, output_suffix(translator.spec))
        jobs = plan(args.inputs, args.out, output_suffix(translator.spec), args.format)
        show_bars = not args.no_progress and sys.stderr.isatty()
        bar = None
        if show_bars and len(jobs) > 1:
            from tqdm import tqdm  # only for a bar: a plain run needs no tqdm

            bar = tqdm(total=len(jobs), unit="image")

        def run(decoded):
            """Translate one image; a single big image gets a bar over its tiles."""
            tiles = translator.tiles(*decoded.size)
            if not show_bars or len(jobs) != 1 or tiles < 2:
                return paint(translator, decoded, args.brush)
            from tqdm import tqdm

            with tqdm(total=tiles, unit="tile", leave=False) as tile_bar:
                return paint(translator, decoded, args.brush, lambda done, total: tile_bar.update(done - tile_bar.n))

        def advance(done: int, total: int) -> None:
            bar.total = total  # the images to run: skipped ones are not counted
            bar.update(done - bar.n)

        tally = translate_files(
            translator, jobs, Limits(DEFAULT_MAX_PIXELS, MAX_OUTPUT_PIXELS), tell,
            resize=args.resize, keep_alpha=args.format != "jpg", bits=16 if args.bits16 else 8,
            png_level=args.png_level, overwrite=args.overwrite, verbose=args.verbose, run=run,
            progress=None if bar is None else advance)
        if bar is not None:
            bar.close()
        tell(f"{tally.line()} ({translator.precision.name})" + (f" -> {args.out}" if args.out else ""))
        return 0 if not tally.failed else 2 if tally.failed == len(jobs) else 1

    return run_cli(body)
