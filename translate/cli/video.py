"""The video part of ``translate``: its flags, and the loop over video inputs (translate.video does the work)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from translate.cli.common import Terminated, os_error, tell

if TYPE_CHECKING:
    from translate.inference import Translator


def add_video_arguments(parser: argparse.ArgumentParser) -> None:
    from translate.temporal import DEFAULT_STRENGTH
    from translate.video import DEFAULT_CODEC, DEFAULT_CRF, NORM_STATS

    group = parser.add_argument_group("video inputs (.mp4, .mov, .mkv, .webm, .avi, .m4v)")
    group.add_argument("--codec", default=DEFAULT_CODEC,
                       help=f"FFmpeg encoder for the output, always yuv420p (default {DEFAULT_CODEC}, i.e. H.264)")
    group.add_argument("--crf", type=int, help=f"encoder quality, lower is better (default {DEFAULT_CRF})")
    group.add_argument("--norm-stats", default="clip", choices=NORM_STATS,
                       help="instance-norm statistics: pooled over each shot of the clip (less flicker; default) "
                            "or per frame")
    group.add_argument("--temporal", type=float, metavar="S",
                       help="blend each frame with the previous output moved along the input's motion, where "
                            f"that motion is reliable: 0 (off) to below 1 (default {DEFAULT_STRENGTH:g}); "
                            "steadies the texture, at some fine detail")
    group.add_argument("--batch", type=int, help="frames per network call (default: 8 on a GPU, 1 on the CPU)")


def is_video_input(path: str) -> bool:
    from translate.video import is_video

    return is_video(path) and not Path(path).is_dir()


def run_videos(args: argparse.Namespace, translator: Translator, suffix: str) -> int:
    """Translate each video in args.inputs to NAME_SUFFIX.EXT beside it (or into --out). Exit code: 0, 1 when
    some failed, 2 when all did."""
    from tqdm import tqdm

    from translate.cli import translate as cli
    from translate.data.io import DEFAULT_MAX_PIXELS
    from translate.errors import ConfigError, UserError
    from translate.video import output_name, translate_video

    others = [i for i in args.inputs if not is_video_input(i)]
    if others:
        raise ConfigError(f"{others[0]}: translate videos and images in separate runs")
    if args.resize or args.bits16:
        raise ConfigError("--resize and --16bit apply to images, not videos")
    if args.batch is not None and args.batch < 1:
        raise ConfigError(f"--batch must be at least 1, got {args.batch}")
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise ConfigError(f"--out {args.out}: is a file; pass a folder")
    # the limits images have, per frame: the decoder's input limit and translate's output limit
    scale = translator.spec.scale
    max_frame_pixels = min(DEFAULT_MAX_PIXELS, cli.MAX_OUTPUT_PIXELS // (scale * scale))
    written = skipped = failed = 0
    for item in args.inputs:
        source = Path(item)
        target = (Path(args.out) if args.out else source.parent) / output_name(source, suffix)
        if not source.is_file():
            tell(f"error: {source}: no such file")
            failed += 1
            continue
        if target.exists() and not args.overwrite:
            tell(f"skipped {source}: {target} exists (pass --overwrite)")
            skipped += 1
            continue
        show = not args.no_progress and sys.stderr.isatty()
        frames = [0]
        with tqdm(disable=not show, unit="frame", desc=source.name) as bar:
            def progress(done: int, total: int, bar: tqdm = bar, frames: list[int] = frames) -> None:
                frames[0] = done
                bar.total = max(total, done) or None
                bar.update(done - bar.n)

            try:
                result = translate_video(source, target, translator, codec=args.codec, crf=args.crf,
                                         norm_stats=args.norm_stats, temporal=args.temporal,
                                         batch=args.batch, progress=progress,
                                         max_frame_pixels=max_frame_pixels)
            except ConfigError:
                raise
            except (KeyboardInterrupt, Terminated):
                bar.close()
                tell(f"stopped {source} after {frames[0]} frames; {target} was not written (its partial file is "
                     "removed)")
                raise
            except UserError as err:
                tell(f"error: {err}")
                failed += 1
                continue
            except OSError as err:
                tell(f"error: {os_error(err)}")
                failed += 1
                continue
        written += 1
        corrupt = f", {result.skipped} corrupt frames skipped" if result.skipped else ""
        tell(f"{target}: {result.frames} frames{corrupt}")
    tell(f"{written} written, {skipped} skipped, {failed} failed" + (f" -> {args.out}" if args.out else ""))
    return 0 if not failed else 2 if failed == len(args.inputs) else 1
