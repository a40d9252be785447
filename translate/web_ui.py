"""The web app: a Gradio Blocks UI over the same Translator and samplers as the command line.

Tabs: style transfer (translation models), super-resolution (before/after slider and a movable 1:1 crop),
batches (several files in, one zip out), paired translation (models whose spec says their input is a label map
or sketch, with a sketch pad), generation
(grids and interpolation strips) and a page describing each model. Results are offered as full-size PNGs.
Uploads reach the handlers undecoded (the events skip Gradio's preprocessing) and go through the command
line's per-image pipeline (translate.pipeline) with the app's limits, so a bad file gets the same one-line
message, shown in the page.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from translate.checkpoint import load_model, read_spec
from translate.data.convert import to_gray
from translate.data.folders import samples_dir
from translate.data.io import DecodedImage, read_image, write_image
from translate.errors import UserError
from translate.inference import Output, Progress, Translator
from translate.label_maps import FACADE_CLASSES, colour, draw_facade
from translate.model_spec import ModelSpec
from translate.pipeline import Job, Limits, output_suffix, read_input, translate_files
from translate.zoo import MODEL_SUFFIXES, bundled_models_dir

STYLE_MAX_PIXELS = 4_000_000
SR_MAX_PIXELS = 1_000_000  # x4 -> 16 MP out
GEN_MAX_SAMPLES = 100
BATCH_MAX_FILES = 100
CROP_SIDE = 320
"""Output pixels a side of the super-resolution tab's 1:1 crops."""
EVERY_CLASS = "every class"


def limits(spec: ModelSpec) -> Limits:
    """The app's size limits for a model: smaller inputs than the command line's (a shared server), smaller
    still for super-resolution, whose output is scale squared times larger; the output limit follows."""
    max_input = SR_MAX_PIXELS if spec.scale > 1 else STYLE_MAX_PIXELS
    return Limits(max_input, max_input * spec.scale**2)


@dataclass(frozen=True)
class Upload:
    path: str
    name: str

    @classmethod
    def from_payload(cls, payload: Any) -> Upload | None:
        """An upload as the browser sent it (a FileData dict: path in Gradio's cache, the user's file name)."""
        if payload is None:
            return None
        if isinstance(payload, dict):
            path, name = payload.get("path"), payload.get("orig_name")
        else:
            path, name = getattr(payload, "path", None), getattr(payload, "orig_name", None)
        if not path:
            return None
        return cls(str(path), name or Path(str(path)).name)


def card(path: Path) -> Path | None:
    """The model card of a model file: NAME.md beside it, or for one of a pair of translators (NAME_A2B,
    NAME_B2A) the pair's NAME.md."""
    for stem in (path.stem, path.stem.removesuffix("_A2B").removesuffix("_B2A")):
        if (path.parent / f"{stem}.md").is_file():
            return path.parent / f"{stem}.md"
    return None


@dataclass(frozen=True)
class Entry:
    label: str
    path: Path
    spec: ModelSpec


def _scan(folders: list[Path]) -> tuple[list[Entry], list[str]]:
    """Every model file (ours or an .onnx export) in `folders`, labelled for the UI, and unreadable ones."""
    from translate.onnx import read_spec as onnx_spec
    from translate.onnx import session

    entries, problems = [], []
    for folder in folders:
        # the bundled folder holds what the package ships; an export left there by hand is not one of them
        suffixes = MODEL_SUFFIXES if _same(folder, bundled_models_dir()) else (*MODEL_SUFFIXES, ".onnx")
        files = sorted(p for p in folder.glob("*") if p.suffix in suffixes) if folder.is_dir() else []
        for path in files:
            try:
                spec = onnx_spec(session(path, provider="cpu"), path) if path.suffix == ".onnx" else read_spec(path)
            except UserError as err:
                problems.append(str(err))
                continue
            except Exception as err:  # noqa: BLE001 - one bad file must not take the app down; it is listed
                problems.append(f"{path}: unreadable ({type(err).__name__})")
                continue
            if spec.task == "translation" and spec.domains:
                label = f"{spec.domains[0]} → {spec.domains[1]} ({path.stem})"
            elif spec.task == "super-resolution":
                label = f"x{spec.scale} ({path.stem})"
            else:
                label = path.stem
            entries.append(Entry(label + (" [onnx]" if path.suffix == ".onnx" else ""), path, spec))
    return entries, problems


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def to_display(out: Output) -> np.ndarray:
    """Float pixels (+ alpha) -> uint8 array Gradio shows: (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA."""
    pixels = out.pixels
    if out.alpha is not None:
        rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
        pixels = np.concatenate([rgb, out.alpha[..., None]], axis=2)
    return np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)


FEATURED = "vangogh_A2B"


class Shelf:
    """The models the app serves and the handlers behind each tab (plain methods, tested directly).

    Result files (PNGs, zips) go to `out_dir` (default: a new temporary folder), one fresh sub-folder per
    request, pruned after an hour. debug: show server paths and exception text (otherwise file names only).
    """

    def __init__(self, folders: list[Path], device: str = "auto", debug: bool = False,
                 out_dir: Path | None = None, precision: str = "fp32") -> None:
        self.entries, self.problems = _scan(folders)
        self.folders, self.device, self.debug, self.precision = folders, device, debug, precision
        self.out_dir = Path(out_dir or tempfile.mkdtemp(prefix="gan-translate-app-"))
        self._cache: dict[Path, Any] = {}
        self._lock = threading.Lock()

    def choices(self, task: str | tuple[str, ...], paired: bool | None = None) -> list[str]:
        """Labels of the models of `task` (or one of them); paired: only those whose spec says their input
        is (True) or is not (False) a label map or sketch; None: both."""
        tasks = (task,) if isinstance(task, str) else task
        return [e.label for e in self.entries if e.spec.task in tasks
                and (paired is None or e.spec.paired_input == paired)]

    def bundled(self, stem: str) -> Entry | None:
        """The served entry that is the bundled model file `stem`, if any (not a user's file of that name)."""
        return next((e for e in self.entries if e.path.stem == stem and _same(e.path.parent, bundled_models_dir())),
                    None)

    def default(self, choices: list[str]) -> str | None:
        """The model a tab's dropdown starts on: the bundled vangogh (photos -> Van Gogh, trained on 398
        paintings, where monet learned from one) when offered, else the first choice."""
        featured = self.bundled(FEATURED)
        return featured.label if featured and featured.label in choices else (choices or [None])[0]

    def public(self, message: str) -> str:
        """`message` as the page may show it: without the server's model folders unless debugging."""
        if self.debug:
            return message
        for folder in self.folders:
            message = message.replace(f"{folder}{os.sep}", "").replace(f"{folder.resolve()}{os.sep}", "")
        return message

    def entry(self, label: str | None) -> Entry:
        for e in self.entries:
            if e.label == label:
                return e
        raise UserError("pick a model first" if not label else f"unknown model {label!r}")

    def _translator(self, entry: Entry) -> Translator:
        with self._lock:
            if entry.path not in self._cache:
                self._cache[entry.path] = Translator.from_file(entry.path, device=self.device,
                                                                     precision=self.precision)
            return self._cache[entry.path]

    def _decode(self, upload: Upload | None, spec: ModelSpec) -> DecodedImage:
        if upload is None:
            raise UserError("upload an image first (or pick an example)")
        return read_input(upload.path, spec, limits(spec), name=upload.name)

    def request_dir(self) -> Path:
        """A fresh folder for one request's result files; folders over an hour old are removed first."""
        import shutil
        import time

        self.out_dir.mkdir(parents=True, exist_ok=True)
        for old in self.out_dir.iterdir():
            try:
                if time.time() - old.stat().st_mtime > 3600:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:
                pass
        return Path(tempfile.mkdtemp(dir=self.out_dir))

    def save_png(self, out: Output, name: str) -> str:
        """The full-size result as a PNG file to download (Gradio would re-encode a shown image as webp)."""
        return str(write_image(self.request_dir() / f"{name}.png", out.pixels, out.alpha))

    def style(self, upload: Upload | None, label: str | None, progress: Progress | None = None) -> np.ndarray:
        return to_display(self.style_output(upload, label, progress)[1])

    def style_output(self, upload: Upload | None, label: str | None,
                     progress: Progress | None = None) -> tuple[DecodedImage, Output]:
        """(the decoded input, the model's output at the same size)."""
        entry = self.entry(label)
        decoded = self._decode(upload, entry.spec)
        return decoded, self._translator(entry).image(decoded, progress)

    def super_resolve(self, upload: Upload | None, label: str | None,
                      progress: Progress | None = None) -> tuple[tuple[np.ndarray, np.ndarray], str]:
        """((bicubic upscale, model output) for the slider, a line about the sizes)."""
        before, out, size = self.super_resolve_output(upload, label, progress)
        return (to_display(before), to_display(out)), size

    def super_resolve_output(self, upload: Upload | None, label: str | None,
                             progress: Progress | None = None) -> tuple[Output, Output, str]:
        """(bicubic upscale, model output, a line about the sizes)."""
        from translate.data.resize import bicubic_resize

        entry = self.entry(label)
        decoded = self._decode(upload, entry.spec)
        out = self._translator(entry).image(decoded, progress)
        h, w = out.pixels.shape[:2]
        before = Output(bicubic_resize(decoded.pixels, (w, h), quantize=False), out.alpha)
        if decoded.grayscale:
            before = Output(to_gray(before.pixels), out.alpha)
        size = f"{decoded.size[0]}×{decoded.size[1]} → {w}×{h} (x{entry.spec.scale}); left: bicubic, right: model"
        return before, out, size

    def batch(self, uploads: list[Upload], label: str | None,
              progress: Callable[[int, int], None] | None = None) -> tuple[str | None, str]:
        """Run a model on several files: (a zip of the outputs or None when none worked, the log).

        The log has the command line's lines: "error: NAME: problem" for each file that failed, then
        "N written, M failed"."""
        entry = self.entry(label)
        if not uploads:
            raise UserError("upload one or more images first")
        if len(uploads) > BATCH_MAX_FILES:
            raise UserError(f"{len(uploads)} files: at most {BATCH_MAX_FILES} at once")
        translator = self._translator(entry)
        folder = self.request_dir()
        suffix, lines = output_suffix(entry.spec), []
        names = [f"{Path(u.name).stem}_{suffix}.png" for u in uploads]
        jobs = [Job(Path(u.path), folder / "out" / name, u.name, name) for u, name in zip(uploads, names, strict=True)]
        tally = translate_files(translator, jobs, limits(entry.spec), lines.append, progress=progress)
        lines.append(tally.line())
        if not tally.written:
            return None, "\n".join(lines)
        archive = folder / f"{entry.path.stem}_{suffix}.zip"
        with zipfile.ZipFile(archive, "w") as zf:  # PNGs are compressed already
            for output in sorted((folder / "out").iterdir()):
                zf.write(output, output.name)
        return str(archive), "\n".join(lines)

    def paired(self, upload: Upload | None, sketch: Any, label: str | None) -> np.ndarray:
        entry = self.entry(label)
        if upload is None and sketch is not None:
            composite = sketch.get("composite") if isinstance(sketch, dict) else sketch
            if isinstance(composite, dict):  # as the browser sent it: a PNG file Gradio wrote
                drawn = read_image(composite["path"], keep_alpha=True)
                pixels = drawn.pixels if drawn.pixels.ndim == 3 else np.repeat(drawn.pixels[..., None], 3, 2)
                if drawn.alpha is not None:  # the pad's background is transparent: draw on white
                    pixels = pixels * drawn.alpha[..., None] + (1 - drawn.alpha[..., None])
            elif composite is None:
                raise UserError("draw something or upload an image first")
            else:
                pixels = np.asarray(composite, dtype=np.float32)[..., :3] / 255.0
            decoded = DecodedImage(Path("sketch"), np.ascontiguousarray(pixels, dtype=np.float32), None, False, 8)
        else:
            decoded = self._decode(upload, entry.spec)
        return to_display(self._translator(entry).image(decoded))

    def _generator(self, entry: Entry) -> tuple[Any, ModelSpec]:
        with self._lock:
            if entry.path not in self._cache:
                if entry.path.suffix == ".onnx":
                    raise UserError(f"{entry.path.name}: generation from .onnx files is not supported in the app")
                self._cache[entry.path] = load_model(entry.path, task="generation")
            return self._cache[entry.path]

    def generate(self, label: str | None, seed: float, klass: str | None, n: float) -> tuple[np.ndarray, np.ndarray]:
        """(a grid of n samples from seed, seed+1, ...; a spherical interpolation strip from seed to seed+1)."""
        from torchvision.utils import make_grid

        from translate.sampling import class_labels, generate, interpolation, latents, strip_latents

        net, spec = self._generator(self.entry(label))
        if seed is None or not math.isfinite(seed):
            raise UserError("the seed must be a whole number")
        seed, n = int(seed), int(n)
        if not 1 <= n <= GEN_MAX_SAMPLES:
            raise UserError(f"number of samples must be 1..{GEN_MAX_SAMPLES}")
        klass = None if klass in (None, "", EVERY_CLASS) else klass
        z = latents(spec, list(range(seed, seed + n)))
        grid = generate(net, spec, z, class_labels(spec, klass, n))
        strip_z, strip_labels = strip_latents(spec, interpolation(spec, seed, seed + 1, 8, spherical=True), klass)
        strip = generate(net, spec, strip_z, strip_labels)
        zoom = max(1, 64 // spec.image_size)

        def show(images: torch.Tensor, nrow: int) -> np.ndarray:
            images = images.repeat_interleave(zoom, 2).repeat_interleave(zoom, 3)
            array = make_grid(images, nrow=nrow, padding=2 * zoom, pad_value=1.0).permute(1, 2, 0).numpy()
            return np.round(array * 255).astype(np.uint8)

        nrow = len(spec.labels) if spec.labels and klass is None else max(1, round(n**0.5))
        return show(grid, nrow), show(strip, 8)

    def describe(self) -> str:
        """Markdown: each model's spec, and its card (see card()) when there is one."""
        if not self.entries:
            return "No models found. Train one (`train-cyclegan`, `train-srgan`, `train-gan`) or pass `--models DIR`."
        parts, shown = [], set()
        for e in self.entries:
            s = e.spec
            facts = [f"task **{s.task}**", f"architecture `{s.arch}` {s.arch_kwargs}",
                     f"{e.path.stat().st_size / 1e6:.1f} MB"]
            if s.domains:
                facts.append(f"{s.domains[0]} → {s.domains[1]}")
            if s.paired_input:
                facts.append("input: a label map or sketch (Paired translation tab)")
            if s.labels:
                facts.append(f"classes {', '.join(s.labels)}")
            if s.recipe:
                facts.append(f"recipe `{s.recipe}`, step {s.step}")
            parts.append(f"### {e.label}\n`{e.path.name}`: " + "; ".join(facts))
            model_card = card(e.path)
            if model_card and model_card not in shown:  # a pair of translators shares one card
                shown.add(model_card)
                parts.append(model_card.read_text())
        if self.problems:
            parts.append("### Unreadable files\n" + "\n".join(f"- {self.public(p)}" for p in self.problems))
        return "\n\n".join(parts)


def device_line(device: str, precision: str = "fp32") -> str:
    from translate.device import pick_device
    from translate.precision import serving_precision

    dev = pick_device(device)
    chosen = serving_precision(precision, dev).line()
    if dev.type == "cuda":
        return f"Running on CUDA: {torch.cuda.get_device_name(dev)}, {chosen}"
    threads = torch.get_num_threads()
    return f"Running on the CPU ({threads} thread{'s' if threads > 1 else ''}), {chosen}"


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def facade_legend() -> str:
    """The 12 facade classes as colour swatches with their names (HTML), for painting label maps."""
    swatches = "".join(f'<span style="display:inline-block;margin:2px 10px 2px 0"><span style="display:inline-block;'
                       f'width:14px;height:14px;vertical-align:middle;background:{_hex(rgb)}"></span> {name}</span>'
                       for name, rgb in FACADE_CLASSES)
    return f"<div><b>Facade label colours</b> (the pix2pix facades set's): {swatches}</div>"


def _examples(*names: str) -> list[str]:
    return [str(p) for p in (samples_dir() / n for n in names) if p.is_file()]


class HeapTrimmer:
    """Hands the memory a request freed back to the OS, so a long-running server's size stays bounded.

    Requests allocate image-sized arrays (megabytes) on many worker threads. glibc raises its mmap
    threshold each time such a block is freed, after which same-sized blocks come from per-thread heaps
    that fragment and rarely shrink: under load the server's resident memory crept up round after round.
    Two heaps at most (M_ARENA_MAX) and `malloc_trim(0)` after each request stop that; a fixed low mmap
    threshold did too but made each request about 15% slower. Does nothing where the C library is not glibc.
    """

    def __init__(self) -> None:
        import ctypes
        import ctypes.util

        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            self._trim = libc.malloc_trim
            m_arena_max = -8
            self.active = bool(libc.mallopt(m_arena_max, 2))
        except (OSError, AttributeError):
            self.active = False

    def __call__(self) -> None:
        if self.active:
            self._trim(0)


def side_by_side(pair: tuple[np.ndarray, np.ndarray], x: float, y: float, side: int = CROP_SIDE) -> np.ndarray:
    """The same (side, side) crop of two equal-sized images, side by side with a white gap, at 1:1; side 0:
    the whole images.

    x, y: the crop's centre as a percentage of the width and height; the crop stays inside the image."""
    views = []
    for image in pair:
        rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
        h, w = rgb.shape[:2]
        ch, cw = (min(side, h), min(side, w)) if side else (h, w)
        top = int(round(np.clip(y / 100 * h - ch / 2, 0, h - ch)))
        left = int(round(np.clip(x / 100 * w - cw / 2, 0, w - cw)))
        views.append(rgb[top:top + ch, left:left + cw])
    gap = np.full((views[0].shape[0], 8, 3), 255, dtype=np.uint8)
    return np.concatenate([views[0], gap, views[1]], axis=1)


VIEW_SIDES = {f"{CROP_SIDE} px crop": CROP_SIDE, f"{2 * CROP_SIDE} px crop": 2 * CROP_SIDE, "whole image": 0}
"""The inspection view's choices: a movable 1:1 crop, or both images whole at full size (for fullscreen or
download, where the page shows them scaled down)."""


def build_app(model_folders: list[str | Path] | None = None, device: str = "auto", debug: bool = False,
              precision: str = "fp32") -> Any:
    """The Gradio Blocks app serving the models in `model_folders` (default: the bundled models).

    debug: show server paths and exception text in the page (otherwise a visitor sees file names only)."""
    import functools

    import gradio as gr

    trim_heap = HeapTrimmer()

    def uploaded_image(**kwargs: Any) -> Any:
        """An image upload field. Its events run with preprocess=False, so the handlers get the upload as
        the browser sent it (Upload.from_payload) and decode it through translate.data.io: Gradio's own
        preprocessing would open it with Pillow first, and swapping the component's preprocess method
        does not survive Gradio's per-session copies of a component (an example click makes one)."""
        return gr.Image(type="filepath", image_mode=None, sources=["upload"], **kwargs)

    folders = [Path(f) for f in (model_folders or [bundled_models_dir()])]
    shelf = Shelf(folders, device, debug, precision=precision)

    def guarded(method):
        @functools.wraps(method)  # Gradio reads the signature to find the progress argument
        def run(*args):
            try:
                return method(*args)
            except UserError as err:
                raise gr.Error(shelf.public(str(err)), print_exception=False) from None
            except (RuntimeError, ValueError, MemoryError) as err:  # a model failure must not kill the server
                detail = f": {str(err).splitlines()[0][:200]}" if debug and str(err) else ""
                raise gr.Error(f"the model failed on this input ({type(err).__name__}{detail}); try a smaller image",
                               print_exception=True) from None
            finally:
                trim_heap()
        return run

    progress_bar = gr.Progress()  # Gradio finds a gr.Progress default and passes the request's own

    def reporter(progress: Any, unit: str) -> Callable[[int, int], None]:
        """Gradio's progress bar (done/total and a time estimate) as a Translator progress callback."""
        return lambda done, total: progress((done, total), unit=unit)

    def run_style(payload: Any, label: str | None, progress: Any = progress_bar) -> tuple:
        decoded, out = shelf.style_output(Upload.from_payload(payload), label, reporter(progress, "tiles"))
        shown = to_display(out)
        pair = (to_display(Output(decoded.pixels, decoded.alpha)), shown)
        name = f"{Path(Upload.from_payload(payload).name).stem}_{shelf.entry(label).path.stem}"
        return shown, shelf.save_png(out, name), pair, side_by_side(pair, 50, 50)

    def run_sr(payload: Any, label: str | None, progress: Any = progress_bar) -> tuple:
        before, out, size = shelf.super_resolve_output(Upload.from_payload(payload), label,
                                                       reporter(progress, "tiles"))
        pair = (to_display(before), to_display(out))
        name = f"{Path(Upload.from_payload(payload).name).stem}_x{shelf.entry(label).spec.scale}"
        return pair, size, shelf.save_png(out, name), pair, side_by_side(pair, 50, 50)

    def run_batch(payloads: Any, label: str | None, progress: Any = progress_bar) -> tuple:
        uploads = [u for u in map(Upload.from_payload, payloads or []) if u is not None]
        return shelf.batch(uploads, label, reporter(progress, "files"))

    def run_paired(payload: Any, sketch: Any, label: str | None) -> np.ndarray:
        return shelf.paired(Upload.from_payload(payload), sketch, label)

    def crop(pair: Any, x: float, y: float, view: str = next(iter(VIEW_SIDES))) -> np.ndarray | None:
        return side_by_side(pair, x, y, VIEW_SIDES.get(view, CROP_SIDE)) if pair else None

    def crop_controls(prefix: str, what: str) -> tuple[Any, Any, Any, Any]:
        """A movable 1:1 crop of a result beside the same crop of what it is compared with, or both whole at
        full size (the image's download and fullscreen buttons then give every pixel)."""
        pair = gr.State()
        with gr.Accordion(f"Inspect at full size: {what}", open=True):
            with gr.Row():
                size = gr.Radio(list(VIEW_SIDES), value=next(iter(VIEW_SIDES)), label="View",
                                elem_id=f"{prefix}-view")
                x = gr.Slider(0, 100, value=50, step=1, label="Crop centre, % of width", elem_id=f"{prefix}-x")
                y = gr.Slider(0, 100, value=50, step=1, label="Crop centre, % of height", elem_id=f"{prefix}-y")
            view = gr.Image(label=f"1:1, side by side: {what}", format="png", interactive=False,
                            elem_id=f"{prefix}-crop")
        for control in (x, y, size):
            control.change(crop, [pair, x, y, size], view, show_progress="hidden")
        return pair, x, y, view

    with gr.Blocks(title="gan-translate", delete_cache=(3600, 3600)) as app:
        gr.Markdown("# gan-translate\nStyle transfer, super-resolution, paired translation and generation "
                    "with GAN models trained by this project.")
        with gr.Tab("Style transfer"):
            choices = shelf.choices("translation", paired=False)
            with gr.Row():
                style_in = uploaded_image(label="Input", elem_id="style-input")
                style_out = gr.Image(label="Output", format="png", interactive=False, elem_id="style-output")
            style_model = gr.Dropdown(choices, value=shelf.default(choices), label="Model",
                                      elem_id="style-model")
            style_go = gr.Button("Translate", variant="primary", elem_id="style-run")
            gr.Examples(_examples("photos_vangogh/photos/golden_gate.jpg", "photos_vangogh/photos/tubingen.jpg",
                                  "horse2zebra/0.png", "monet_etretat/trainB/etretat-normandy-france.jpg"),
                        inputs=style_in, elem_id="style-examples")
            style_file = gr.File(label="Full-size PNG", interactive=False, elem_id="style-file")
            style_pair, style_x, style_y, style_crop = crop_controls("style", "input | output")
            style_go.click(guarded(run_style), [style_in, style_model], [style_out, style_file, style_pair, style_crop],
                           api_name="style", preprocess=False)
        with gr.Tab("Super-resolution"):
            choices = shelf.choices("super-resolution")
            sr_in = uploaded_image(label="Low-resolution input", elem_id="sr-input")
            sr_model = gr.Dropdown(choices, value=shelf.default(choices), label="Model")
            sr_go = gr.Button("Upscale", variant="primary", elem_id="sr-run")
            gr.Markdown("The bundled `sr_x4` learned from clean photos shrunk 4x (bicubic), like the first four "
                        "examples. It sharpens JPEG blocks and noise along with the detail, as the last example "
                        "(a heavily compressed JPEG) shows.", elem_id="sr-note",
                        visible=shelf.bundled("sr_x4") is not None)
            gr.Examples(_examples("sr/x4_inputs/tubingen.png", "sr/x4_inputs/butterfly.png", "sr/x4_inputs/baby.png",
                                  "sr/x4_inputs/bird.png", "realworld_lq/0014.jpg"),
                        inputs=sr_in, elem_id="sr-examples")
            sr_size = gr.Markdown(elem_id="sr-size")
            sr_out = gr.ImageSlider(label="Bicubic | model (whole image)", format="png", elem_id="sr-output")
            sr_pair, sr_x, sr_y, sr_crop = crop_controls("sr", "bicubic | model")
            sr_file = gr.File(label="Full-size PNG", interactive=False, elem_id="sr-file")
            sr_go.click(guarded(run_sr), [sr_in, sr_model], [sr_out, sr_size, sr_file, sr_pair, sr_crop],
                        api_name="super_resolve", preprocess=False)
        with gr.Tab("Batch"):
            choices = shelf.choices(("translation", "super-resolution"))
            batch_in = gr.File(label="Images", file_count="multiple", elem_id="batch-input")
            batch_model = gr.Dropdown(choices, value=shelf.default(choices), label="Model",
                                      elem_id="batch-model")
            batch_go = gr.Button("Run on every file", variant="primary", elem_id="batch-run")
            batch_zip = gr.File(label="Outputs (zip of PNGs)", interactive=False, elem_id="batch-output")
            batch_log = gr.Textbox(label="Log", lines=4, interactive=False, elem_id="batch-log")
            batch_go.click(guarded(run_batch), [batch_in, batch_model], [batch_zip, batch_log], api_name="batch",
                           preprocess=False)
        from translate.web_ui_video import video_tab  # imported here: translate.web_ui_video imports this module
        video_tab(shelf)
        with gr.Tab("Paired translation"):
            choices = shelf.choices("translation", paired=True)
            if not choices:
                gr.Markdown("No paired models (label map or sketch to picture, as pix2pix trains) here yet.")
            with gr.Row():
                paired_in = uploaded_image(label="Input label map (or sketch beside)", elem_id="paired-input")
                paired_sketch = gr.Sketchpad(
                    value=draw_facade(0), label="Sketch: paint a facade label map in the class colours", type="numpy",
                    brush=gr.Brush(colors=[_hex(rgb) for _, rgb in FACADE_CLASSES], color_mode="fixed",
                                   default_color=_hex(colour("window"))),
                    canvas_size=(256, 256), elem_id="paired-sketch")
                paired_out = gr.Image(label="Output", format="png", interactive=False, elem_id="paired-output")
            gr.HTML(facade_legend(), elem_id="paired-legend")
            gr.Examples(_examples(*(f"facade_labels/drawn_{i}.png" for i in range(3))), inputs=paired_in,
                        elem_id="paired-examples")
            paired_model = gr.Dropdown(choices, value=shelf.default(choices), label="Model",
                                       elem_id="paired-tab-model")
            paired_go = gr.Button("Translate", variant="primary", elem_id="paired-run")
            paired_go.click(guarded(run_paired), [paired_in, paired_sketch, paired_model], paired_out,
                            api_name="paired", preprocess=False)
        with gr.Tab("Generate"):
            choices = shelf.choices("generation")
            gen_model = gr.Dropdown(choices, value=shelf.default(choices), label="Model")
            with gr.Row():
                gen_seed = gr.Number(0, label="Seed", precision=0)
                gen_n = gr.Slider(1, GEN_MAX_SAMPLES, value=64, step=1, label="Samples")
                first = shelf.entry(choices[0]).spec if choices else None
                gen_class = gr.Dropdown([EVERY_CLASS, *(first.labels or ())] if first else [EVERY_CLASS],
                                        value=EVERY_CLASS, label="Class (conditional models)", elem_id="gen-class")
            gen_go = gr.Button("Generate", variant="primary", elem_id="gen-run")
            gen_grid = gr.Image(label="Samples", format="png", interactive=False, elem_id="gen-output")
            gen_strip = gr.Image(label="Interpolation from seed to seed + 1 (conditional models: a row per class)",
                                 format="png", interactive=False, elem_id="gen-strip")
            gen_go.click(guarded(shelf.generate), [gen_model, gen_seed, gen_class, gen_n], [gen_grid, gen_strip],
                         api_name="generate")
        with gr.Tab("Models"):
            gr.Markdown(shelf.describe(), elem_id="models")
        where = f" · models from {', '.join(map(str, folders))}" if debug else ""
        gr.Markdown(f"<small>{device_line(device, precision)}{where}</small>", elem_id="footer")
    app.queue(default_concurrency_limit=max(1, (os.cpu_count() or 2) // 2), max_size=32)
    return app
