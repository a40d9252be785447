"""``translate``: run a translation or super-resolution model on image files and folders of any size, or videos."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from translate.cli.common import ArgumentParser, os_error, parse, run_cli
from translate.cli.video import add_video_arguments, is_video_input, run_videos

FORMATS = ("png", "jpg", "webp")
READ_AHEAD = 2
"""Inputs decoded ahead of the one being computed."""
WRITE_BEHIND = 2
"""Outputs being encoded while the next image computes (each waits its turn beyond this)."""
MAX_OUTPUT_PIXELS = 256_000_000
"""Refuse outputs larger than this (16000 x 16000; 3 GB as float32), e.g. x4 super-resolution of a 16 MP photo
or more: say --resize instead of running for minutes and then running out of memory."""


def output_suffix(spec) -> str:
    """What the output file name says about the model: the target domain or the scale."""
    if spec.task == "super-resolution":
        return f"x{spec.scale}"
    return spec.domains[1] if spec.domains else "translated"


def plan(inputs: Sequence[str], out: str | None, suffix: str, fmt: str) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs. Outputs are named NAME_SUFFIX.FMT (the suffix names the model's target
    domain or scale, so runs of other models or directions into one folder do not collide), beside the inputs
    without --out; folders are searched recursively and mirrored (into FOLDER_SUFFIX/ without --out)."""
    from translate.data.io import list_images
    from translate.errors import ConfigError, ImageError

    if out and Path(out).exists() and not Path(out).is_dir():
        raise ConfigError(f"--out {out}: is a file; pass a folder")
    pairs = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            if not out and not path.resolve().name:
                raise ConfigError(f"{path}: cannot write a folder beside the file-system root; pass --out")
            root = Path(out) if out else path.resolve().with_name(f"{path.resolve().name}_{suffix}")
            for file in list_images(path):
                target = root / file.relative_to(path)
                pairs.append((file, target.with_name(f"{target.stem}_{suffix}.{fmt}") if out else
                              target.with_suffix(f".{fmt}")))
        elif path.exists():
            target = Path(out) / f"{path.stem}_{suffix}.{fmt}" if out else path.with_name(f"{path.stem}_{suffix}.{fmt}")
            pairs.append((path, target))
        else:
            raise ImageError(f"{path}: no such file or folder")
    sources: dict[Path, Path] = {}
    for source, target in pairs:
        other = sources.setdefault(target.resolve(), source)
        if other != source:
            raise ConfigError(f"{source} and {other} would both be written to {target}; translate them separately "
                              "or rename one")
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="translate", description=__doc__)
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image files and/or folders (recursive), or video files")
    parser.add_argument("--model", required=True,
                        help="model file (.safetensors or .onnx), a run's models/ folder, or a bundled name")
    parser.add_argument("--out", help="output folder (default: beside each input, with a suffix)")
    parser.add_argument("--format", default="png", choices=FORMATS, help="output format (default png)")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    parser.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"),
                        help="for CycleGAN pairs: which generator (default AtoB)")
    parser.add_argument("--tile", type=int, help="largest input side run in one piece (0: never tile)")
    parser.add_argument("--tile-overlap", type=int, help="input pixels shared by neighbouring tiles")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--provider", default="auto", choices=("auto", "cpu", "cuda"),
                        help=".onnx models: onnxruntime provider (cuda: an error if it cannot load)")
    parser.add_argument("--half", action="store_true", help="float16 on CUDA (PyTorch models)")
    parser.add_argument("--16bit", dest="bits16", action="store_true", help="write 16-bit PNGs")
    parser.add_argument("--resize", type=int, metavar="SIDE", help="first scale each input so its longer side is SIDE")
    parser.add_argument("--png-level", type=int, choices=range(10), metavar="0-9",
                        help="PNG zlib level (default: 6, or 1 from 4 MP on, where 6 takes about 3x as long for a "
                             "file a quarter smaller)")
    parser.add_argument("--verbose", action="store_true",
                        help="print start-up time and, per image, the seconds spent reading, computing and writing")
    parser.add_argument("--no-progress", action="store_true")
    add_video_arguments(parser)
    args = parse(parser, argv)

    def body() -> int:
        started = time.perf_counter()
        from translate.data.io import DEFAULT_MAX_PIXELS, read_image, write_image
        from translate.data.resize import bicubic_resize
        from translate.errors import ConfigError, ImageError
        from translate.inference import Translator
        from translate.zoo import resolve_model

        imported = time.perf_counter()
        if args.resize is not None and args.resize < 1:
            raise ConfigError(f"--resize must be at least 1, got {args.resize}")
        if args.bits16 and args.format != "png":
            raise ConfigError("--16bit needs --format png")
        if args.png_level is not None and args.format != "png":
            raise ConfigError(f"--png-level applies to PNG output, not --format {args.format}")
        model = resolve_model(args.model, args.direction)
        translator = Translator.from_file(model, device=args.device, tile=args.tile, tile_overlap=args.tile_overlap,
                                          half=args.half, provider=args.provider)
        if args.verbose:
            print(f"start-up: imports {imported - started:.2f} s, model {time.perf_counter() - imported:.2f} s "
                  f"({translator.backend} on {translator.device})", file=sys.stderr)
        if any(is_video_input(i) for i in args.inputs):
            return run_videos(args, translator, output_suffix(translator.spec))
        pairs = plan(args.inputs, args.out, output_suffix(translator.spec), args.format)
        failures = written = skipped = 0
        inputs = {source.resolve() for source, _ in pairs}
        todo = []
        for source, target in pairs:
            if target.resolve() in inputs:
                print(f"skipped {source}: the output {target} is one of the inputs; pass another --out",
                      file=sys.stderr)
                skipped += 1
            elif target.exists() and not args.overwrite:
                print(f"skipped {source}: {target} exists (pass --overwrite)", file=sys.stderr)
                skipped += 1
            else:
                todo.append((source, target))

        def load(source: Path):
            """Decode (and --resize) one input; runs in a worker thread while the previous image computes."""
            begin = time.perf_counter()
            decoded = read_image(source, keep_alpha=args.format != "jpg")
            if decoded.frames > 1:
                print(f"note: {source}: has {decoded.frames} frames (animated or multi-page); translating the "
                      "first only", file=sys.stderr)
            if args.resize:
                w, h = decoded.size
                factor = args.resize / max(w, h)
                size = (max(1, round(w * factor)), max(1, round(h * factor)))
                if size[0] * size[1] > DEFAULT_MAX_PIXELS:
                    raise ImageError(f"{source}: --resize {args.resize} makes it {size[0]}x{size[1]}, over the "
                                     f"limit of {DEFAULT_MAX_PIXELS / 1e6:.0f} MP")
                alpha = None if decoded.alpha is None else bicubic_resize(decoded.alpha, size, quantize=False)
                decoded = type(decoded)(decoded.path, bicubic_resize(decoded.pixels, size, quantize=False), alpha,
                                        decoded.grayscale, decoded.bit_depth)
            s = translator.spec.scale
            if decoded.size[0] * decoded.size[1] * s * s > MAX_OUTPUT_PIXELS:
                raise ImageError(f"{source}: the x{s} output would be {decoded.size[0] * s}x{decoded.size[1] * s},"
                                 f" over the limit of {MAX_OUTPUT_PIXELS / 1e6:.0f} MP; --resize it smaller first")
            return decoded, time.perf_counter() - begin

        def save(target: Path, result) -> float:
            """Encode and write one output; runs in a worker thread while the next image computes."""
            begin = time.perf_counter()
            write_image(target, result.pixels, result.alpha, bits=16 if args.bits16 else 8, png_level=args.png_level)
            return time.perf_counter() - begin

        def failed(err: Exception) -> None:
            nonlocal failures
            print(f"error: {err if isinstance(err, ImageError) else os_error(err)}", file=sys.stderr)
            failures += 1

        show_tiles = not args.no_progress and len(pairs) == 1 and sys.stderr.isatty()

        def run(decoded):
            """Translate one image; a single big image gets a bar over its tiles."""
            tiles = translator.tiles(*decoded.size)
            if not show_tiles or tiles < 2:
                return translator.image(decoded)
            from tqdm import tqdm

            with tqdm(total=tiles, unit="tile", leave=False) as tile_bar:
                return translator.image(decoded, lambda done, total: tile_bar.update(done - tile_bar.n))

        bar = None
        if not args.no_progress and len(pairs) > 1 and sys.stderr.isatty():
            from tqdm import tqdm  # only for a bar: a plain run needs no tqdm

            bar = tqdm(total=len(todo), unit="image")

        def finish(source: Path, read_s: float, compute_s: float, job: Future) -> None:
            nonlocal written
            try:
                write_s = job.result()
            except (ImageError, OSError) as err:
                failed(err)
            else:
                written += 1
                if args.verbose:
                    print(f"{source}: read {read_s:.2f} s, compute {compute_s:.2f} s, write {write_s:.2f} s",
                          file=sys.stderr)
            if bar is not None:
                bar.update(1)

        # Inputs are decoded READ_AHEAD images ahead and outputs written behind, in threads (Pillow and zlib
        # release the GIL), so a GPU is not left idle while the CPU reads and encodes big files. Both queues
        # are bounded: a 48 MP output is over half a gigabyte as float32.
        queue = iter(todo)
        reads: deque = deque()
        writes: deque = deque()
        with ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="decode") as readers, \
                ThreadPoolExecutor(WRITE_BEHIND, thread_name_prefix="encode") as writers:
            def read_more() -> None:
                while len(reads) < READ_AHEAD and (item := next(queue, None)) is not None:
                    reads.append((item, readers.submit(load, item[0])))

            read_more()
            while reads:
                (source, target), job = reads.popleft()
                read_more()
                try:
                    decoded, read_s = job.result()
                    begin = time.perf_counter()
                    result = run(decoded)
                    compute_s = time.perf_counter() - begin
                except (ImageError, OSError) as err:
                    failed(err)
                    if bar is not None:
                        bar.update(1)
                    continue
                while len(writes) >= WRITE_BEHIND:
                    finish(*writes.popleft())
                writes.append((source, read_s, compute_s, writers.submit(save, target, result)))
            while writes:
                finish(*writes.popleft())
        if bar is not None:
            bar.close()
        print(f"{written} written, {skipped} skipped, {failures} failed"
              + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
        return 0 if not failures else 2 if failures == len(pairs) else 1

    return run_cli(body)
