"""The web app: a Gradio Blocks UI over the same Translator and samplers as the command line.

Tabs, each shown only when a served model can use it: style transfer and super-resolution (before/after
sliders and a movable 1:1 crop), batches (several files in, one zip out), video (translate.web_ui_video),
paired translation (models whose spec says their input is a label map or sketch: a sketch pad or an upload,
one at a time), generation (grids and interpolation strips), and a table of the models with a panel per
model card. Results are offered as full-size PNGs. Uploads reach the handlers undecoded (the events skip
Gradio's preprocessing) and go through the command line's per-image pipeline (translate.pipeline) with the
app's limits (translate.app_limits: images over them are scaled down, with a note), so a bad file gets the
same one-line message, shown in the page.
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

from translate.app_limits import AppLimits
from translate.brush import BRUSHES, paint
from translate.checkpoint import load_model, read_spec
from translate.data.convert import to_gray
from translate.data.folders import samples_dir
from translate.data.io import DecodedImage, read_image, write_image
from translate.errors import ConfigError, UserError
from translate.inference import Output, Progress, Translator
from translate.label_maps import FACADE_CLASSES, colour, draw_facade
from translate.model_spec import ModelSpec
from translate.pipeline import Job, output_suffix, read_input, translate_files
from translate.printable import printable, unreadable_markdown
from translate.zoo import MODEL_SUFFIXES, bundled_models_dir

GEN_MAX_SAMPLES = 100
CROP_SIDE = 320
"""Output pixels a side of the super-resolution tab's 1:1 crops."""
DISPLAY_MAX_PIXELS = 16_000_000
"""Largest image the page is sent to show whole; bigger results are shown scaled down (the 1:1 crop and the
PNG download keep every pixel)."""
EVERY_CLASS = "every class"


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
    bundled: bool = False


def _scan(folders: list[Path]) -> tuple[list[Entry], list[str]]:
    """Every model file (ours or an .onnx export) in `folders`, labelled for the UI, and unreadable ones. A
    label that another folder's model already has gets that folder's name added."""
    from translate.onnx import read_spec as onnx_spec
    from translate.onnx import session

    entries, problems = [], []
    for folder in folders:
        # the bundled folder holds what the package ships; an export left there by hand is not one of them
        bundled = _same(folder, bundled_models_dir())
        suffixes = MODEL_SUFFIXES if bundled else (*MODEL_SUFFIXES, ".onnx")
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
                label = f"{spec.domains[0]} → {spec.domains[1]} ({printable(path.stem)})"
            elif spec.task == "super-resolution":
                label = f"x{spec.scale} ({printable(path.stem)})"
            else:
                label = printable(path.stem)
            label += " [onnx]" if path.suffix == ".onnx" else ""
            if any(e.label == label for e in entries):
                label += " · bundled" if bundled else f" · {printable(folder.name)}"
            entries.append(Entry(label, path, spec, bundled))
    return entries, problems


def app_folders(folders: list[str] | None, bundled: bool = True) -> list[Path]:
    """The folders translate-app serves: the user's `folders`, then (bundled) the bundled models' folder
    unless it is one of them. ConfigError for a folder that is not there (a typo would serve nothing)."""
    chosen = [Path(f) for f in folders or []]
    for folder in chosen:
        if not folder.is_dir():
            raise ConfigError(f"--models {folder}: {'is a file' if folder.exists() else 'no such folder'}; "
                              "pass folders of model files")
    if bundled and not any(_same(f, bundled_models_dir()) for f in chosen):
        chosen.append(bundled_models_dir())
    return chosen


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
    # one float temporary, worked on in place: a 64 MP result is 0.77 GB as float32
    scaled = np.clip(pixels, 0, 1)
    scaled *= 255
    np.rint(scaled, out=scaled)
    return scaled.astype(np.uint8)


def resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A uint8 image (gray, RGB or RGBA) resized to size=(width, height), bicubic (antialiased when shrinking;
    Pillow weighs colours by their alpha)."""
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))


def for_display(image: np.ndarray, max_pixels: int = DISPLAY_MAX_PIXELS) -> np.ndarray:
    """`image` as the page is sent it: whole up to `max_pixels`, scaled down to fit beyond."""
    h, w = image.shape[:2]
    if w * h <= max_pixels:
        return image
    factor = math.sqrt(max_pixels / (w * h))
    return resized(image, (max(1, int(w * factor)), max(1, int(h * factor))))


def looks_like_label_map(pixels: np.ndarray) -> bool:
    """Whether an image is made of a few flat colours, as label maps and sketches are (pixels in [0, 1]).

    Colours are binned 32 levels a channel; a label map, even one saved as a JPEG, has most of its pixels in a
    couple of dozen bins (the facades set's JPEG label maps: 49-76%, a drawn PNG: 100%), a colour photo
    spreads over thousands (the samples' photos: 16-52%). Gray photos pass: they use few bins too."""
    rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
    q = np.clip(rgb[..., :3] * 32, 0, 31).astype(np.int32)
    codes = (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]
    counts = np.bincount(codes.ravel(), minlength=1 << 15)
    return np.sort(counts)[-24:].sum() >= 0.5 * codes.size


FEATURED = "vangogh_A2B"


class Shelf:
    """The models the app serves and the handlers behind each tab (plain methods, tested directly).

    Result files (PNGs, zips) go to `out_dir` (default: a new temporary folder), one fresh sub-folder per
    request, pruned after an hour. debug: show server paths and exception text (otherwise file names only).
    """

    def __init__(self, folders: list[Path], device: str = "auto", debug: bool = False,
                 out_dir: Path | None = None, limits: AppLimits | None = None, precision: str = "fp32") -> None:
        self.entries, self.problems = _scan(folders)
        self.folders, self.device, self.debug, self.precision = folders, device, debug, precision
        self.limits = limits or AppLimits()
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
        """The model a tab's dropdown starts on: the first of the user's own models (those not bundled), else
        the bundled vangogh (photos -> Van Gogh, trained on 398 paintings, where monet learned from one) when
        offered, else the first choice."""
        own = [e.label for e in self.entries if not e.bundled and e.label in choices]
        if own:
            return own[0]
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

    def _decode(self, upload: Upload | None, spec: ModelSpec, note: Callable[[str], None] | None = None,
                what: str = "an image") -> DecodedImage:
        if upload is None:
            raise UserError(f"upload {what} first (or pick an example)")
        return read_input(upload.path, spec, self.limits.image(spec), name=upload.name, note=note)

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

    def keep_pair(self, pair: tuple[np.ndarray, np.ndarray]) -> tuple[str, str]:
        """A result and what it is compared with, saved for the inspection view's crops: a session keeps the
        two file names, not the images (two 64 MP images for a 4 MP input at x4 are 0.4 GB)."""
        folder = self.request_dir()
        for name, image in zip(("before.npy", "after.npy"), pair, strict=True):
            np.save(folder / name, image, allow_pickle=False)
        return str(folder / "before.npy"), str(folder / "after.npy")

    def style(self, upload: Upload | None, label: str | None, progress: Progress | None = None) -> np.ndarray:
        return to_display(self.style_output(upload, label, progress)[1])

    def style_output(self, upload: Upload | None, label: str | None, progress: Progress | None = None,
                     note: Callable[[str], None] | None = None, brush: str = "fine") -> tuple[DecodedImage, Output]:
        """(the decoded input, scaled down to the app's limit if need be, the model's output at its size, painted
        at `brush`: see translate.brush); note gets a line when the input was scaled down."""
        if brush not in BRUSHES:
            raise UserError(f"brush must be one of {', '.join(BRUSHES)}, got {brush!r}")
        entry = self.entry(label)
        decoded = self._decode(upload, entry.spec, note)
        return decoded, paint(self._translator(entry), decoded, brush, progress)

    def super_resolve(self, upload: Upload | None, label: str | None,
                      progress: Progress | None = None) -> tuple[tuple[np.ndarray, np.ndarray], str]:
        """((bicubic upscale, model output) for the slider, a line about the sizes)."""
        before, out, size = self.super_resolve_output(upload, label, progress)
        return (before, to_display(out)), size

    def super_resolve_output(self, upload: Upload | None, label: str | None, progress: Progress | None = None,
                             note: Callable[[str], None] | None = None) -> tuple[np.ndarray, Output, str]:
        """(bicubic upscale as displayed pixels, model output, a line about the sizes). The upscale is made
        from the 8-bit input: a quarter of the memory of a float one, which for a 64 MP output is 0.6 GB."""
        entry = self.entry(label)
        decoded = self._decode(upload, entry.spec, note)
        out = self._translator(entry).image(decoded, progress)
        h, w = out.pixels.shape[:2]
        source = to_gray(decoded.pixels) if decoded.grayscale and decoded.pixels.ndim == 3 else decoded.pixels
        before = resized(to_display(Output(source, decoded.alpha)), (w, h))
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
        if len(uploads) > self.limits.max_batch_files:
            raise UserError(f"{len(uploads)} files: at most {self.limits.max_batch_files} at once")
        translator = self._translator(entry)
        folder = self.request_dir()
        suffix, lines = output_suffix(entry.spec), []
        names = [f"{Path(u.name).stem}_{suffix}.png" for u in uploads]
        jobs = [Job(Path(u.path), folder / "out" / name, u.name, name) for u, name in zip(uploads, names, strict=True)]
        tally = translate_files(translator, jobs, self.limits.image(entry.spec), lines.append, progress=progress)
        lines.append(tally.line())
        if not tally.written:
            return None, "\n".join(lines)
        archive = folder / f"batch_{suffix}.zip"  # what the outputs are, as their own names say
        with zipfile.ZipFile(archive, "w") as zf:  # PNGs are compressed already
            for output in sorted((folder / "out").iterdir()):
                zf.write(output, output.name)
        return str(archive), "\n".join(lines)

    def paired(self, upload: Upload | None, sketch: Any, label: str | None,
               note: Callable[[str], None] | None = None) -> np.ndarray:
        """The model's output for an uploaded label map, or with upload None, for the sketch pad's drawing.
        note gets a line when an upload was scaled down or does not look like a label map."""
        entry = self.entry(label)
        if upload is None:
            composite = sketch.get("composite") if isinstance(sketch, dict) else sketch
            if isinstance(composite, dict):  # as the browser sent it: a PNG file Gradio wrote
                drawn = read_image(composite["path"], keep_alpha=True)
                pixels = drawn.pixels if drawn.pixels.ndim == 3 else np.repeat(drawn.pixels[..., None], 3, 2)
                if drawn.alpha is not None:  # the pad's background is transparent: draw on white
                    pixels = pixels * drawn.alpha[..., None] + (1 - drawn.alpha[..., None])
            elif composite is None:
                raise UserError("draw something first")
            else:
                pixels = np.asarray(composite, dtype=np.float32)[..., :3] / 255.0
            decoded = DecodedImage(Path("sketch"), np.ascontiguousarray(pixels, dtype=np.float32), None, False, 8)
        else:
            decoded = self._decode(upload, entry.spec, note, what="a label map")
            if note is not None and not looks_like_label_map(decoded.pixels):
                note(f"warning: {upload.name} does not look like a label map (it has many colours, like a photo); "
                     "the model expects flat regions in the class colours, and gives a smear for anything else")
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

    def groups(self) -> list[tuple[str, list[Entry], Path | None]]:
        """The models as the Models tab lists them: (name, entries, card), one group per card (a pair of
        translators shares one), else one per file."""
        groups: dict[Path | str, tuple[str, list[Entry], Path | None]] = {}
        for e in self.entries:
            model_card = card(e.path)
            key = model_card or str(e.path)
            name = printable(model_card.stem if model_card else e.path.stem)
            groups.setdefault(key, (name, [], model_card))[1].append(e)
        return list(groups.values())

    def model_table(self) -> str:
        """HTML: a table of the models, a row per group (see groups): name, task, direction, size, and from
        its card (see card_facts) what it was trained on and its headline figure. HTML rather than Markdown so
        the short columns do not wrap mid-word beside the long ones."""
        from html import escape

        if not self.entries:
            return ("<p>No models found. Train one (<code>train-cyclegan</code>, <code>train-srgan</code>, "
                    "<code>train-gan</code>) or pass <code>--models DIR</code>.</p>")
        edge = "border-bottom:1px solid #ccc;padding:6px 8px;text-align:left;vertical-align:top"
        short = f"{edge};white-space:nowrap"
        heads = ("model", "task", "direction", "size", "trained on", "headline figure")
        rows = ["<tr>" + "".join(f'<th style="{short}">{h}</th>' for h in heads) + "</tr>"]
        for name, entries, model_card in self.groups():
            facts = card_facts(model_card.read_text()) if model_card else {}
            sizes = [file_size(e.path) for e in entries]
            size = sizes[0] + (" each" if len(sizes) > 1 else "") if len(set(sizes)) == 1 else " + ".join(sizes)
            cells = [f"<b>{escape(name)}</b>"] + [escape(c) for c in (
                ", ".join(sorted({e.spec.task for e in entries})), group_direction(entries), size)]
            cells += [escape(facts.get(k, "–")) for k in ("trained on", "headline")]
            rows.append("<tr>" + "".join(f'<td style="{short if i < 4 else edge}">{c}</td>'
                                         for i, c in enumerate(cells)) + "</tr>")
        return f'<table style="width:100%;border-collapse:collapse">{"".join(rows)}</table>'

    def model_details(self, entries: list[Entry], model_card: Path | None) -> str:
        """Markdown: each file's spec, formatted, then the card with its headings moved below the tab's."""
        parts = [spec_lines(e) for e in entries]
        if model_card:
            parts.append(demote_headings(model_card.read_text()))
        return "\n\n".join(parts)

    def unreadable(self) -> str:
        """Markdown: the model files that could not be read, one a line ("" when none)."""
        if not self.problems:
            return ""
        return unreadable_markdown([self.public(p) for p in self.problems])


def direction(spec: ModelSpec) -> str:
    """What a model turns into what, in a few words."""
    if spec.domains:
        return f"{spec.domains[0]} → {spec.domains[1]}"
    if spec.task == "super-resolution":
        return f"x{spec.scale} upscale"
    if spec.labels:
        return f"noise → image, {len(spec.labels)} classes"
    return "noise → image" if spec.task == "generation" else "–"


def file_size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{max(1, round(size / 1e3))} kB"


def group_direction(entries: list[Entry]) -> str:
    """The directions of a group's models: a CycleGAN pair (a -> b, b -> a) as one "a ↔ b"."""
    domains = [e.spec.domains for e in entries]
    if len(entries) == 2 and domains[0] and domains[1] and domains[0] == domains[1][::-1]:
        return f"{domains[0][0]} ↔ {domains[0][1]}"
    return "; ".join(direction(e.spec) for e in entries)


def spec_lines(entry: Entry) -> str:
    """Markdown: a model file's spec as a short list (no Python reprs)."""
    s = entry.spec
    kwargs = ", ".join(f"{k} {v}" for k, v in sorted(s.arch_kwargs.items()))
    lines = [f"**`{printable(entry.path.name)}`**", f"- task: {s.task}, {direction(s)}",
             f"- network: `{s.arch}`" + (f" ({kwargs})" if kwargs else ""),
             f"- latent size {s.latent_dim}, {s.image_size}×{s.image_size} {s.out_channels}-channel images out"
             if s.task == "generation" else f"- channels: {s.in_channels} in, {s.out_channels} out"]
    if s.paired_input:
        lines.append("- input: a label map or sketch (Paired translation tab)")
    if s.labels:
        lines.append(f"- classes: {', '.join(s.labels)}")
    if s.recipe:
        lines.append(f"- trained with the `{s.recipe}` recipe" + (f", {s.step:,} steps" if s.step else ""))
    lines.append(f"- size: {file_size(entry.path)}")
    return "\n".join(lines)


def card_facts(text: str) -> dict[str, str]:
    """A card's "- **Trained on**: ..." and "- **Headline**: ..." lines (what the Models table shows), keyed
    "trained on" and "headline"; a bullet may run over several lines."""
    facts: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        stripped = line.strip()
        match = next((k for k in ("trained on", "headline") if stripped.lower().startswith(f"- **{k}**:")), None)
        if match:
            key = match
            facts[key] = stripped.split(":", 1)[1].strip().removesuffix(".")
        elif key and stripped and not stripped.startswith(("-", "#", "```")) and line.startswith(" "):
            facts[key] = f"{facts[key]} {stripped}".removesuffix(".")
        else:
            key = None
    return facts


def demote_headings(text: str) -> str:
    """Markdown headings three levels down (a card's "# title" no larger than its panel's title), outside code
    blocks."""
    out, code = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            code = not code
        out.append("###" + line if not code and line.startswith("#") else line)
    return "\n".join(out)


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
    for image in pair:  # cropped first: the images may be memory-mapped files, read only where cropped
        h, w = image.shape[:2]
        ch, cw = (min(side, h), min(side, w)) if side else (h, w)
        top = int(round(np.clip(y / 100 * h - ch / 2, 0, h - ch)))
        left = int(round(np.clip(x / 100 * w - cw / 2, 0, w - cw)))
        view = np.asarray(image[top:top + ch, left:left + cw])
        views.append(np.repeat(view[..., None], 3, axis=2) if view.ndim == 2 else view[..., :3])
    gap = np.full((views[0].shape[0], 8, 3), 255, dtype=np.uint8)
    return np.concatenate([views[0], gap, views[1]], axis=1)


SKETCH, UPLOAD = "Sketch", "Upload"
"""The paired tab's two inputs, one at a time."""

VIEW_SIDES = {f"{CROP_SIDE} px crop": CROP_SIDE, f"{2 * CROP_SIDE} px crop": 2 * CROP_SIDE, "whole image": 0}
"""The inspection view's choices: a movable 1:1 crop, or both images whole at full size (for fullscreen or
download, where the page shows them scaled down)."""


def build_app(model_folders: list[str | Path] | None = None, device: str = "auto", debug: bool = False,
              limits: AppLimits | None = None, precision: str = "fp32") -> Any:
    """The Gradio Blocks app serving the models in `model_folders` (default: the bundled models). A tab whose
    kind of model none of them holds is left out.

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
    shelf = Shelf(folders, device, debug, limits=limits, precision=precision)
    app_limits = shelf.limits

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

    def shown(pair: tuple[np.ndarray, np.ndarray], lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The pair as the slider shows it, with a line when it had to be scaled down to be sent whole."""
        view = (for_display(pair[0]), for_display(pair[1]))
        if view[1].shape != pair[1].shape:
            lines.append(f"The slider shows the result at {view[1].shape[1]}×{view[1].shape[0]}; the 1:1 crop and "
                         "the PNG have every pixel.")
        return view

    def results(pair: tuple[np.ndarray, np.ndarray], png: str, lines: list[str]) -> tuple:
        """What a run gives the slider tabs: slider, info line, PNG (now shown), crop state, crop, inspection."""
        view = shown(pair, lines)
        return (gr.ImageSlider(value=view, visible=True), "\n\n".join(lines), gr.File(value=png, visible=True),
                shelf.keep_pair(pair), side_by_side(pair, 50, 50), gr.Accordion(visible=True))

    def run_style(payload: Any, label: str | None, brush: str, progress: Any = progress_bar) -> tuple:
        upload, lines = Upload.from_payload(payload), []
        decoded, out = shelf.style_output(upload, label, reporter(progress, "tiles"), lines.append, brush)
        pair = (to_display(Output(decoded.pixels, decoded.alpha)), to_display(out))
        name = f"{Path(upload.name).stem}_{shelf.entry(label).path.stem}"
        lines.append(f"{decoded.size[0]}×{decoded.size[1]}; left: input, right: output")
        return results(pair, shelf.save_png(out, name), lines)

    def run_sr(payload: Any, label: str | None, progress: Any = progress_bar) -> tuple:
        upload, lines = Upload.from_payload(payload), []
        before, out, size = shelf.super_resolve_output(upload, label, reporter(progress, "tiles"), lines.append)
        pair = (before, to_display(out))
        name = f"{Path(upload.name).stem}_x{shelf.entry(label).spec.scale}"
        lines.append(size)
        return results(pair, shelf.save_png(out, name), lines)

    def run_batch(payloads: Any, label: str | None, progress: Any = progress_bar) -> tuple:
        uploads = [u for u in map(Upload.from_payload, payloads or []) if u is not None]
        archive, log = shelf.batch(uploads, label, reporter(progress, "files"))
        return gr.File(value=archive, visible=archive is not None), log

    def run_generate(label: str | None, seed: float, klass: str | None, n: float) -> tuple:
        grid, strip = shelf.generate(label, seed, klass, n)
        return gr.Image(value=grid, visible=True), gr.Image(value=strip, visible=True)

    def run_paired(source: str, payload: Any, sketch: Any, label: str | None) -> tuple[np.ndarray, str]:
        lines: list[str] = []
        upload = Upload.from_payload(payload) if source == UPLOAD else None
        if source == UPLOAD and upload is None:
            raise UserError("upload a label map first (or pick an example)")
        out = shelf.paired(upload, None if source == UPLOAD else sketch, label, lines.append)
        for line in lines:
            if line.startswith("warning: "):
                gr.Warning(line.removeprefix("warning: "))
        return out, "\n\n".join(lines)

    def crop(kept: Any, x: float, y: float, view: str = next(iter(VIEW_SIDES))) -> np.ndarray | None:
        """The inspection view of the pair keep_pair saved (read in part, memory-mapped); None when there is
        none yet or it was pruned (after an hour)."""
        try:
            pair = tuple(np.load(path, mmap_mode="r", allow_pickle=False) for path in kept or ())
        except (OSError, ValueError):
            return None
        if len(pair) != 2:
            return None
        side = VIEW_SIDES.get(view, CROP_SIDE)
        if side == 0:  # both whole: at full size up to the page's limit, scaled down beyond
            pair = (for_display(np.asarray(pair[0])), for_display(np.asarray(pair[1])))
        return side_by_side(pair, x, y, side)

    def crop_controls(prefix: str, what: str) -> tuple[Any, Any]:
        """A movable 1:1 crop of a result beside the same crop of what it is compared with, or both whole at
        full size (the image's download and fullscreen buttons then give every pixel), in a panel that stays
        hidden until there is a result and then starts collapsed. Gives (the state holding the names of the
        pair's files, the crop, the panel)."""
        pair = gr.State()
        with gr.Accordion(f"Inspect at full size: {what}", open=False, visible=False,
                          elem_id=f"{prefix}-inspect") as panel:
            with gr.Row():
                size = gr.Radio(list(VIEW_SIDES), value=next(iter(VIEW_SIDES)), label="View",
                                elem_id=f"{prefix}-view")
                x = gr.Slider(0, 100, value=50, step=1, label="Crop centre, % of width", elem_id=f"{prefix}-x")
                y = gr.Slider(0, 100, value=50, step=1, label="Crop centre, % of height", elem_id=f"{prefix}-y")
            view = gr.Image(label=f"1:1, side by side: {what}", format="png", interactive=False,
                            elem_id=f"{prefix}-crop")
        for control in (x, y, size):
            control.change(crop, [pair, x, y, size], view, show_progress="hidden")
        return pair, view, panel

    def slider_tab(prefix: str, choices: list[str], input_label: str, button: str,
                   slider_label: str | None, options: Callable[[], Any] | None = None) -> tuple:
        """The style and super-resolution tabs' top: the input, with the before/after slider and the info line
        beside and under it when `slider_label` is given (else slider_tab_results places them); the model and
        what `options` adds beside it; the button. Gives (input, model dropdown, button, slider or None, info
        line or None, what options gave or None)."""
        with gr.Row():
            given = uploaded_image(label=input_label, elem_id=f"{prefix}-input")
            slider = None if slider_label is None else \
                gr.ImageSlider(label=slider_label, format="png", interactive=False, elem_id=f"{prefix}-output")
        info = None if slider_label is None else gr.Markdown(elem_id=f"{prefix}-info")
        with gr.Row():
            model = gr.Dropdown(choices, value=shelf.default(choices), label="Model", elem_id=f"{prefix}-model",
                                scale=2)
            extra = options() if options else None
        go = gr.Button(button, variant="primary", elem_id=f"{prefix}-run")
        return given, model, go, slider, info, extra

    def slider_tab_results(prefix: str, what: str, slider: Any, info: Any, slider_label: str = "") -> list:
        """After the examples: the slider and info line if slider_tab left them out (full width, the slider
        hidden until a result), the PNG download and the inspection panel, both hidden until a result. Gives
        the run's outputs, in the order `results` fills them."""
        if info is None:
            info = gr.Markdown(elem_id=f"{prefix}-info")
        if slider is None:
            slider = gr.ImageSlider(label=slider_label, format="png", interactive=False, visible=False,
                                    elem_id=f"{prefix}-output")
        png = gr.File(label="Full-size PNG", interactive=False, visible=False, elem_id=f"{prefix}-file")
        pair, view, panel = crop_controls(prefix, what)
        return [slider, info, png, pair, view, panel]

    with gr.Blocks(title="gan-translate", delete_cache=(3600, 3600)) as app:
        gr.Markdown("# gan-translate\nStyle transfer, super-resolution, paired translation and generation "
                    "with GAN models trained by this project.")
        choices = shelf.choices("translation", paired=False)
        if choices:
            with gr.Tab("Style transfer", elem_id="tab-style"):
                gr.Markdown(app_limits.image_line(), elem_id="style-limits")
                style_in, style_model, style_go, style_slider, style_info, style_brush = slider_tab(
                    "style", choices, "Input", "Translate", "Input | output (drag the handle)",
                    lambda: gr.Radio(list(BRUSHES), value="medium", label="Brush", scale=1, elem_id="style-brush",
                                     info="stroke size on photos over 512 pixels"))
                gr.Examples(_examples("photos_vangogh/photos/golden_gate.jpg", "photos_vangogh/photos/tubingen.jpg",
                                      "horse2zebra/0.png", "monet_etretat/trainB/etretat-normandy-france.jpg"),
                            inputs=style_in, elem_id="style-examples")
                style_outputs = slider_tab_results("style", "input | output", style_slider, style_info)
                style_go.click(guarded(run_style), [style_in, style_model, style_brush], style_outputs,
                               api_name="style",
                               preprocess=False)
        choices = shelf.choices("super-resolution")
        if choices:
            with gr.Tab("Super-resolution", elem_id="tab-sr"):
                gr.Markdown(app_limits.image_line(sr=True) + " Big inputs run in tiles, with a progress bar.",
                            elem_id="sr-limits")
                sr_in, sr_model, sr_go, _, _, _ = slider_tab("sr", choices, "Low-resolution input", "Upscale", None)
                gr.Markdown("The bundled `sr_x4` learned from clean photos shrunk 4x (bicubic), like the first four "
                            "examples. It sharpens JPEG blocks and noise along with the detail, as the last example "
                            "(a heavily compressed JPEG) shows.", elem_id="sr-note",
                            visible=shelf.bundled("sr_x4") is not None)
                gr.Examples(_examples("sr/x4_inputs/tubingen.png", "sr/x4_inputs/butterfly.png",
                                      "sr/x4_inputs/baby.png", "sr/x4_inputs/bird.png", "realworld_lq/0014.jpg"),
                            inputs=sr_in, elem_id="sr-examples")
                sr_outputs = slider_tab_results("sr", "bicubic | model", None, None,
                                                "Bicubic | model, whole image (drag the handle)")
                sr_go.click(guarded(run_sr), [sr_in, sr_model], sr_outputs, api_name="super_resolve",
                            preprocess=False)
        choices = shelf.choices(("translation", "super-resolution"))
        if choices:
            with gr.Tab("Batch", elem_id="tab-batch"):
                gr.Markdown(f"Up to {app_limits.max_batch_files} files at once; images up to {app_limits.max_mp:g} MP "
                            f"({app_limits.max_sr_mp:g} MP for super-resolution), larger ones scaled down with a "
                            "line in the log (the `translate` command keeps full size).", elem_id="batch-limits")
                batch_in = gr.File(label="Images", file_count="multiple", elem_id="batch-input")
                batch_model = gr.Dropdown(choices, value=shelf.default(choices), label="Model",
                                          elem_id="batch-model")
                batch_go = gr.Button("Run on every file", variant="primary", elem_id="batch-run")
                batch_zip = gr.File(label="Outputs (zip of PNGs)", interactive=False, visible=False,
                                    elem_id="batch-output")
                batch_log = gr.Textbox(label="Log", lines=4, interactive=False, elem_id="batch-log")
                batch_go.click(guarded(run_batch), [batch_in, batch_model], [batch_zip, batch_log],
                               api_name="batch", preprocess=False)
        from translate.web_ui_video import video_tab  # imported here: translate.web_ui_video imports this module
        video_tab(shelf)
        choices = shelf.choices("translation", paired=True)
        if choices:
            with gr.Tab("Paired translation", elem_id="tab-paired"):
                gr.Markdown(f"Draw a label map, or upload one: one input at a time. {app_limits.image_line()}",
                            elem_id="paired-limits")
                paired_source = gr.Radio([SKETCH, UPLOAD], value=SKETCH, label="Input", elem_id="paired-source")
                with gr.Row():
                    with gr.Column(visible=True) as sketch_column:
                        gr.Markdown("**Sketch**: paint a facade label map in the class colours (the legend "
                                    "below)", elem_id="paired-sketch-label")
                        paired_sketch = gr.Sketchpad(
                            value=draw_facade(0), show_label=False, type="numpy",
                            brush=gr.Brush(colors=[_hex(rgb) for _, rgb in FACADE_CLASSES], color_mode="fixed",
                                           default_color=_hex(colour("window"))),
                            canvas_size=(256, 256), elem_id="paired-sketch")
                    with gr.Column(visible=False) as upload_column:
                        paired_in = uploaded_image(label="Input label map", elem_id="paired-input")
                    paired_out = gr.Image(label="Output", format="png", interactive=False, elem_id="paired-output")
                gr.HTML(facade_legend(), elem_id="paired-legend")
                paired_info = gr.Markdown(elem_id="paired-info")
                paired_model = gr.Dropdown(choices, value=shelf.default(choices), label="Model",
                                           elem_id="paired-tab-model")
                paired_go = gr.Button("Translate", variant="primary", elem_id="paired-run")
                gr.Examples(_examples(*(f"facade_labels/drawn_{i}.png" for i in range(3))), inputs=paired_in,
                            label="Examples (label maps to upload)", elem_id="paired-examples")
                paired_source.change(lambda source: (gr.Column(visible=source == SKETCH),
                                                     gr.Column(visible=source == UPLOAD)),
                                     paired_source, [sketch_column, upload_column], show_progress="hidden")
                # an upload or an example picked makes the upload the input, visibly
                paired_in.change(lambda payload: gr.Radio(value=UPLOAD) if payload else gr.Radio(),
                                 paired_in, paired_source, show_progress="hidden", preprocess=False)
                paired_go.click(guarded(run_paired), [paired_source, paired_in, paired_sketch, paired_model],
                                [paired_out, paired_info], api_name="paired", preprocess=False)
        choices = shelf.choices("generation")
        if choices:
            with gr.Tab("Generate", elem_id="tab-gen"):
                gr.Markdown(f"Up to {GEN_MAX_SAMPLES} samples at a time.", elem_id="gen-limits")
                gen_model = gr.Dropdown(choices, value=shelf.default(choices), label="Model")
                with gr.Row():
                    gen_seed = gr.Number(0, label="Seed", precision=0)
                    gen_n = gr.Slider(1, GEN_MAX_SAMPLES, value=64, step=1, label="Samples")
                    first = shelf.entry(choices[0]).spec
                    gen_class = gr.Dropdown([EVERY_CLASS, *(first.labels or ())], value=EVERY_CLASS,
                                            label="Class (conditional models)", elem_id="gen-class")
                gen_go = gr.Button("Generate", variant="primary", elem_id="gen-run")
                gen_grid = gr.Image(label="Samples", format="png", interactive=False, visible=False,
                                    elem_id="gen-output")
                gen_strip = gr.Image(label="Interpolation from seed to seed + 1 (conditional models: a row per "
                                     "class)", format="png", interactive=False, visible=False, elem_id="gen-strip")
                gen_go.click(guarded(run_generate), [gen_model, gen_seed, gen_class, gen_n],
                             [gen_grid, gen_strip], api_name="generate")
        with gr.Tab("Models", elem_id="tab-models"):
            gr.Markdown("Every model served here; open a model's panel below for its spec and card.")
            gr.HTML(shelf.model_table(), elem_id="models")
            for name, entries, model_card in shelf.groups():
                with gr.Accordion(f"{name}: {group_direction(entries)} (spec and card)", open=False):
                    gr.Markdown(shelf.model_details(entries, model_card))
            gr.Markdown(shelf.unreadable(), elem_id="models-unreadable")
        where = f" · models from {', '.join(map(str, folders))}" if debug else ""
        gr.Markdown(f"<small>{device_line(device, precision)}{where}</small>", elem_id="footer")
    app.queue(default_concurrency_limit=max(1, (os.cpu_count() or 2) // 2), max_size=32)
    return app
