"""The web app: a Gradio Blocks UI over the same Translator and samplers as the command line.

Tabs: style transfer (translation models), super-resolution (before/after slider), paired translation
(pix2pix models, with a sketch pad), generation (grids and interpolation strips) and a page describing
each model. Uploads reach the handlers undecoded and go through translate.data.io like every other image,
so a bad file gets the same one-line message, shown in the page.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from translate.checkpoint import ModelSpec, load_model, read_spec
from translate.data.convert import to_gray
from translate.data.folders import samples_dir
from translate.data.io import DecodedImage, read_image
from translate.errors import UserError
from translate.inference import Output, Translator
from translate.zoo import MODEL_SUFFIXES, bundled_models_dir

STYLE_MAX_PIXELS = 4_000_000
SR_MAX_PIXELS = 1_000_000  # x4 -> 16 MP out
GEN_MAX_SAMPLES = 100


@dataclass(frozen=True)
class Upload:
    path: str
    name: str


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
        files = sorted(p for p in folder.glob("*") if p.suffix in (*MODEL_SUFFIXES, ".onnx")) if folder.is_dir() else []
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


def to_display(out: Output) -> np.ndarray:
    """Float pixels (+ alpha) -> uint8 array Gradio shows: (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA."""
    pixels = out.pixels
    if out.alpha is not None:
        rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
        pixels = np.concatenate([rgb, out.alpha[..., None]], axis=2)
    return np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)


class Shelf:
    """The models the app serves and the handlers behind each tab (plain methods, tested directly)."""

    def __init__(self, folders: list[Path], device: str = "auto", debug: bool = False) -> None:
        self.entries, self.problems = _scan(folders)
        self.folders, self.device, self.debug = folders, device, debug
        self._cache: dict[Path, Any] = {}
        self._lock = threading.Lock()

    def choices(self, task: str, recipe: str | None = None, exclude_recipe: str | None = None) -> list[str]:
        return [e.label for e in self.entries if e.spec.task == task
                and (recipe is None or e.spec.recipe == recipe)
                and (exclude_recipe is None or e.spec.recipe != exclude_recipe)]

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
                self._cache[entry.path] = Translator.from_file(entry.path, device=self.device)
            return self._cache[entry.path]

    def _decode(self, upload: Upload | None, max_pixels: int) -> DecodedImage:
        if upload is None:
            raise UserError("upload an image first (or pick an example)")
        try:
            return read_image(upload.path, keep_alpha=True, max_pixels=max_pixels)
        except UserError as err:
            raise UserError(str(err).replace(str(upload.path), upload.name)) from None

    def style(self, upload: Upload | None, label: str | None) -> np.ndarray:
        entry = self.entry(label)
        return to_display(self._translator(entry).image(self._decode(upload, STYLE_MAX_PIXELS)))

    def super_resolve(self, upload: Upload | None, label: str | None) -> tuple[tuple[np.ndarray, np.ndarray], str]:
        """((bicubic upscale, model output) for the slider, a line about the sizes)."""
        from translate.data.resize import bicubic_resize

        entry = self.entry(label)
        decoded = self._decode(upload, SR_MAX_PIXELS)
        out = self._translator(entry).image(decoded)
        h, w = out.pixels.shape[:2]
        before = Output(bicubic_resize(decoded.pixels, (w, h), quantize=False), out.alpha)
        if decoded.grayscale:
            before = Output(to_gray(before.pixels), out.alpha)
        size = f"{decoded.size[0]}×{decoded.size[1]} → {w}×{h} (x{entry.spec.scale}); left: bicubic, right: model"
        return (to_display(before), to_display(out)), size

    def paired(self, upload: Upload | None, sketch: Any, label: str | None) -> np.ndarray:
        entry = self.entry(label)
        if upload is None and sketch is not None:
            composite = sketch.get("composite") if isinstance(sketch, dict) else sketch
            if composite is None:
                raise UserError("draw something or upload an image first")
            pixels = np.asarray(composite, dtype=np.float32)[..., :3] / 255.0
            decoded = DecodedImage(Path("sketch"), np.ascontiguousarray(pixels), None, False, 8)
        else:
            decoded = self._decode(upload, STYLE_MAX_PIXELS)
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

        from translate.sampling import class_labels, generate, interpolation, latents

        net, spec = self._generator(self.entry(label))
        if seed is None or not math.isfinite(seed):
            raise UserError("the seed must be a whole number")
        seed, n = int(seed), int(n)
        if not 1 <= n <= GEN_MAX_SAMPLES:
            raise UserError(f"number of samples must be 1..{GEN_MAX_SAMPLES}")
        klass = klass or None
        z = latents(spec, list(range(seed, seed + n)))
        grid = generate(net, spec, z, class_labels(spec, klass, n))
        strip_z = interpolation(spec, seed, seed + 1, 8, spherical=True)
        strip_labels = class_labels(spec, klass, 8)
        if strip_labels is not None:
            strip_labels = torch.full_like(strip_labels, int(strip_labels[0]))
        strip = generate(net, spec, strip_z, strip_labels)
        zoom = max(1, 64 // spec.image_size)

        def show(images: torch.Tensor, nrow: int) -> np.ndarray:
            images = images.repeat_interleave(zoom, 2).repeat_interleave(zoom, 3)
            array = make_grid(images, nrow=nrow, padding=2 * zoom, pad_value=1.0).permute(1, 2, 0).numpy()
            return np.round(array * 255).astype(np.uint8)

        nrow = len(spec.labels) if spec.labels and klass is None else max(1, round(n**0.5))
        return show(grid, nrow), show(strip, 8)

    def describe(self) -> str:
        """Markdown: each model's spec, and its card (NAME.md beside it) when there is one."""
        if not self.entries:
            return "No models found. Train one (`train-cyclegan`, `train-srgan`, `train-gan`) or pass `--models DIR`."
        parts = []
        for e in self.entries:
            s = e.spec
            facts = [f"task **{s.task}**", f"architecture `{s.arch}` {s.arch_kwargs}",
                     f"{e.path.stat().st_size / 1e6:.1f} MB"]
            if s.domains:
                facts.append(f"{s.domains[0]} → {s.domains[1]}")
            if s.labels:
                facts.append(f"classes {', '.join(s.labels)}")
            if s.recipe:
                facts.append(f"recipe `{s.recipe}`, step {s.step}")
            parts.append(f"### {e.label}\n`{e.path.name}`: " + "; ".join(facts))
            card = e.path.with_suffix(".md")
            if card.is_file():
                parts.append(card.read_text())
        if self.problems:
            parts.append("### Unreadable files\n" + "\n".join(f"- {self.public(p)}" for p in self.problems))
        return "\n\n".join(parts)


def device_line(device: str) -> str:
    from translate.device import pick_device

    dev = pick_device(device)
    if dev.type == "cuda":
        return f"Running on CUDA: {torch.cuda.get_device_name(dev)}"
    threads = torch.get_num_threads()
    return f"Running on the CPU ({threads} thread{'s' if threads > 1 else ''})"


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


def build_app(model_folders: list[str | Path] | None = None, device: str = "auto", debug: bool = False) -> Any:
    """The Gradio Blocks app serving the models in `model_folders` (default: the bundled models).

    debug: show server paths and exception text in the page (otherwise a visitor sees file names only)."""
    import gradio as gr

    trim_heap = HeapTrimmer()

    def uploaded_image(**kwargs: Any) -> Any:
        """A gr.Image whose uploads reach the handler as an Upload (path + the user's file name), undecoded, so
        translate.data.io reports bad files. The method is replaced on the instance: a gr.Image subclass would
        make Gradio write a .pyi stub into this package."""
        component = gr.Image(type="filepath", image_mode=None, sources=["upload"], **kwargs)

        def preprocess(payload: Any) -> Upload | None:
            if payload is None:
                return None
            return Upload(str(payload.path), payload.orig_name or Path(str(payload.path)).name)

        component.preprocess = preprocess
        return component

    folders = [Path(f) for f in (model_folders or [bundled_models_dir()])]
    shelf = Shelf(folders, device, debug)

    def guarded(method):
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

    with gr.Blocks(title="gan-translate") as app:
        gr.Markdown("# gan-translate\nStyle transfer, super-resolution, paired translation and generation "
                    "with GAN models trained by this project.")
        with gr.Tab("Style transfer"):
            choices = shelf.choices("translation", exclude_recipe="pix2pix")
            with gr.Row():
                style_in = uploaded_image(label="Input", elem_id="style-input")
                style_out = gr.Image(label="Output", format="png", interactive=False, elem_id="style-output")
            style_model = gr.Dropdown(choices, value=choices[0] if choices else None, label="Model",
                                      elem_id="style-model")
            style_go = gr.Button("Translate", variant="primary", elem_id="style-run")
            gr.Examples(_examples("photos_vangogh/photos/golden_gate.jpg", "photos_vangogh/photos/tubingen.jpg",
                                  "horse2zebra/0.png", "monet_etretat/trainB/etretat-normandy-france.jpg"),
                        inputs=style_in)
            style_go.click(guarded(shelf.style), [style_in, style_model], style_out, api_name="style")
        with gr.Tab("Super-resolution"):
            choices = shelf.choices("super-resolution")
            sr_in = uploaded_image(label="Low-resolution input", elem_id="sr-input")
            sr_model = gr.Dropdown(choices, value=choices[0] if choices else None, label="Model")
            sr_go = gr.Button("Upscale", variant="primary", elem_id="sr-run")
            sr_size = gr.Markdown(elem_id="sr-size")
            sr_out = gr.ImageSlider(label="Bicubic | model", format="png", elem_id="sr-output")
            gr.Examples(_examples("realworld_lq/0014.jpg", "realworld_lq/wolf_gray.jpg",
                                  "realworld_lq/children-alpha.png", "realworld_lq/ADE_val_00000114.jpg"), inputs=sr_in)
            sr_go.click(guarded(shelf.super_resolve), [sr_in, sr_model], [sr_out, sr_size], api_name="super_resolve")
        from translate.app_video import video_tab  # imported here: translate.app_video imports this module
        video_tab(shelf)
        with gr.Tab("Paired translation"):
            choices = shelf.choices("translation", recipe="pix2pix")
            if not choices:
                gr.Markdown("No paired (pix2pix) models here yet.")
            with gr.Row():
                paired_in = uploaded_image(label="Input (or draw beside)")
                paired_sketch = gr.Sketchpad(label="Sketch", type="numpy")
                paired_out = gr.Image(label="Output", format="png", interactive=False)
            paired_model = gr.Dropdown(choices, value=choices[0] if choices else None, label="Model")
            paired_go = gr.Button("Translate", variant="primary")
            paired_go.click(guarded(shelf.paired), [paired_in, paired_sketch, paired_model], paired_out,
                            api_name="paired")
        with gr.Tab("Generate"):
            choices = shelf.choices("generation")
            gen_model = gr.Dropdown(choices, value=choices[0] if choices else None, label="Model")
            with gr.Row():
                gen_seed = gr.Number(0, label="Seed", precision=0)
                gen_n = gr.Slider(1, GEN_MAX_SAMPLES, value=64, step=1, label="Samples")
                first = shelf.entry(choices[0]).spec if choices else None
                gen_class = gr.Dropdown(["", *(first.labels or ())] if first else [""], value="",
                                        label="Class (conditional models; empty: every class)")
            gen_go = gr.Button("Generate", variant="primary")
            gen_grid = gr.Image(label="Samples", format="png", interactive=False)
            gen_strip = gr.Image(label="Interpolation from seed to seed + 1", format="png", interactive=False)
            gen_go.click(guarded(shelf.generate), [gen_model, gen_seed, gen_class, gen_n], [gen_grid, gen_strip],
                         api_name="generate")
        with gr.Tab("Models"):
            gr.Markdown(shelf.describe())
        where = f" · models from {', '.join(map(str, folders))}" if debug else ""
        gr.Markdown(f"<small>{device_line(device)}{where}</small>", elem_id="footer")
    app.queue(default_concurrency_limit=max(1, (os.cpu_count() or 2) // 2), max_size=32)
    return app
