"""The per-image pipeline of every front end (the translate command and the web app): read an input, resize
it, hold it to the front end's size limits, run the model, write the output; and the run over many files that
decodes ahead and encodes behind. Front ends differ only in their limits and in where the lines go."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from translate.data.io import DEFAULT_MAX_PIXELS, DecodedImage, list_images, read_image, write_image
from translate.errors import ConfigError, ImageError, os_error
from translate.inference import Output, Progress, Translator
from translate.model_spec import ModelSpec

READ_AHEAD = 2
"""Inputs decoded ahead of the one being computed."""
WRITE_BEHIND = 2
"""Outputs being encoded while the next image computes (each waits its turn beyond this)."""


@dataclass(frozen=True)
class Limits:
    """A front end's size limits. max_input_pixels: largest input, as decoded and after resizing;
    max_output_pixels: largest output (input pixels times the model's scale squared). fit: scale a larger
    input down to max_input_pixels, with a note, instead of refusing it (the app; the command line keeps full
    size); what is decoded at all stays within the decoder's own limit."""

    max_input_pixels: int
    max_output_pixels: int
    fit: bool = False


@dataclass(frozen=True)
class Job:
    """One input file and its output file. `name` and `target_name` are what messages call them (the app
    shows an upload's own name and the output's file name, not paths on the server); by default the paths."""

    source: Path
    target: Path
    name: str
    target_name: str | None = None


@dataclass
class Tally:
    written: int = 0
    skipped: int = 0
    failed: int = 0

    def line(self) -> str:
        return f"{self.written} written, {self.skipped} skipped, {self.failed} failed"


def output_suffix(spec: ModelSpec) -> str:
    """What the output file name says about the model: the target domain or the scale."""
    if spec.task == "super-resolution":
        return f"x{spec.scale}"
    return spec.domains[1] if spec.domains else "translated"


def plan(inputs: Sequence[str], out: str | None, suffix: str, fmt: str) -> list[Job]:
    """The jobs for the translate command's inputs. Outputs are named NAME_SUFFIX.FMT wherever they go (the
    suffix names the model's target domain or scale, so runs of other models or directions into one folder do
    not collide), beside the inputs without `out`; folders are searched recursively and mirrored (into
    FOLDER_SUFFIX/ without `out`)."""
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
                pairs.append((file, target.with_name(f"{target.stem}_{suffix}.{fmt}")))
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
    return [Job(source, target, str(source)) for source, target in pairs]


def read_input(source: str | Path, spec: ModelSpec, limits: Limits, resize: int | None = None,
               keep_alpha: bool = True, name: str | None = None,
               note: Callable[[str], None] | None = None) -> DecodedImage:
    """Decode one input within `limits`, first scaled so its longer side is `resize` when given.

    ImageError naming the input as `name` (default: its path); `note` gets a line about inputs of several
    frames (only the first is used)."""
    from translate.data.resize import bicubic_resize

    name = str(source) if name is None else name
    try:
        decoded = read_image(source, keep_alpha=keep_alpha,
                             max_pixels=max(DEFAULT_MAX_PIXELS, limits.max_input_pixels) if limits.fit
                             else limits.max_input_pixels)
    except ImageError as err:
        raise ImageError(str(err).replace(str(source), name)) from None
    if decoded.frames > 1 and note is not None:
        note(f"note: {name}: has {decoded.frames} frames (animated or multi-page); translating the first only")
    if resize:
        w, h = decoded.size
        factor = resize / max(w, h)
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        if size[0] * size[1] > limits.max_input_pixels:
            raise ImageError(f"{name}: --resize {resize} makes it {size[0]}x{size[1]}, over the limit of "
                             f"{limits.max_input_pixels / 1e6:.0f} MP")
        alpha = None if decoded.alpha is None else bicubic_resize(decoded.alpha, size, quantize=False)
        decoded = type(decoded)(decoded.path, bicubic_resize(decoded.pixels, size, quantize=False), alpha,
                                decoded.grayscale, decoded.bit_depth)
    if limits.fit:
        decoded = _fit(decoded, limits.max_input_pixels, name, note)
    s = spec.scale
    if decoded.size[0] * decoded.size[1] * s * s > limits.max_output_pixels:
        raise ImageError(f"{name}: the x{s} output would be {decoded.size[0] * s}x{decoded.size[1] * s}, over the "
                         f"limit of {limits.max_output_pixels / 1e6:.0f} MP; --resize it smaller first")
    return decoded


def _fit(decoded: DecodedImage, max_pixels: int, name: str, note: Callable[[str], None] | None) -> DecodedImage:
    """`decoded` scaled down (bicubic, antialiased) to at most `max_pixels`, keeping its aspect ratio."""
    from translate.data.resize import bicubic_resize

    w, h = decoded.size
    if w * h <= max_pixels:
        return decoded
    factor = math.sqrt(max_pixels / (w * h))
    size = (max(1, math.floor(w * factor)), max(1, math.floor(h * factor)))
    alpha = None if decoded.alpha is None else bicubic_resize(decoded.alpha, size, quantize=False)
    if note is not None:
        note(f"note: {name}: {w}x{h} ({w * h / 1e6:.3g} MP) scaled down to {size[0]}x{size[1]}, the limit of "
             f"{max_pixels / 1e6:.3g} MP here")
    return type(decoded)(decoded.path, bicubic_resize(decoded.pixels, size, quantize=False), alpha,
                         decoded.grayscale, decoded.bit_depth, decoded.frames)


def translate_files(translator: Translator, jobs: Sequence[Job], limits: Limits, log: Callable[[str], None], *,
                    resize: int | None = None, keep_alpha: bool = True, bits: int = 8, png_level: int | None = None,
                    overwrite: bool = False, verbose: bool = False, progress: Progress | None = None,
                    run: Callable[[DecodedImage], Output] | None = None) -> Tally:
    """Translate each job's input into its output file; returns the counts.

    Skipped, with a line to `log`: outputs that are one of the inputs, outputs another job writes too, and
    (unless `overwrite`) outputs that exist. An input that fails gets an "error: ..." line and the others go
    on. verbose: a line per image with the seconds spent reading, computing and writing. progress(done, total)
    after each image run; run: how to run one image (default: the translator's, without tile progress).
    Inputs are decoded READ_AHEAD images ahead and outputs written behind, in threads (Pillow and zlib release
    the GIL), so a GPU is not left idle while the CPU reads and encodes big files. Both queues are bounded: a
    48 MP output is over half a gigabyte as float32.
    """
    run = run or translator.image
    tally = Tally()
    inputs = {job.source.resolve() for job in jobs}
    todo, targets = [], set()
    for job in jobs:
        target = job.target.resolve()
        if target in inputs:
            log(f"skipped {job.name}: the output {job.target} is one of the inputs; pass another --out")
        elif target in targets:
            log(f"skipped {job.name}: another file gives {job.target.name} too; rename one")
        elif job.target.exists() and not overwrite:
            log(f"skipped {job.name}: {job.target} exists (pass --overwrite)")
        else:
            todo.append(job)
            targets.add(target)
            continue
        tally.skipped += 1

    def load(job: Job) -> tuple[DecodedImage, float]:
        begin = time.perf_counter()
        return read_input(job.source, translator.spec, limits, resize, keep_alpha, job.name, log), \
            time.perf_counter() - begin

    def save(target: Path, result: Output) -> float:
        begin = time.perf_counter()
        write_image(target, result.pixels, result.alpha, bits=bits, png_level=png_level)
        return time.perf_counter() - begin

    def failed(job: Job, err: Exception) -> None:
        message = (str(err) if isinstance(err, ImageError) else os_error(err)).replace(str(job.source), job.name)
        log(f"error: {message.replace(str(job.target), job.target_name or str(job.target))}")
        tally.failed += 1

    def finish(job: Job, read_s: float, compute_s: float, writing: Future) -> None:
        try:
            write_s = writing.result()
        except (ImageError, OSError) as err:
            failed(job, err)
        else:
            tally.written += 1
            if verbose:
                log(f"{job.name}: read {read_s:.2f} s, compute {compute_s:.2f} s, write {write_s:.2f} s")
        if progress:
            progress(tally.written + tally.failed, len(todo))

    queue = iter(todo)
    reads: deque = deque()
    writes: deque = deque()
    with ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="decode") as readers, \
            ThreadPoolExecutor(WRITE_BEHIND, thread_name_prefix="encode") as writers:
        def read_more() -> None:
            while len(reads) < READ_AHEAD and (job := next(queue, None)) is not None:
                reads.append((job, readers.submit(load, job)))

        read_more()
        while reads:
            job, reading = reads.popleft()
            read_more()
            try:
                decoded, read_s = reading.result()
                begin = time.perf_counter()
                result = run(decoded)
                compute_s = time.perf_counter() - begin
            except (ImageError, OSError) as err:
                failed(job, err)
                if progress:
                    progress(tally.written + tally.failed, len(todo))
                continue
            while len(writes) >= WRITE_BEHIND:
                finish(*writes.popleft())
            writes.append((job, read_s, compute_s, writers.submit(save, job.target, result)))
        while writes:
            finish(*writes.popleft())
    return tally
