#!/usr/bin/env python3
"""Run a gan-translate ONNX export on an image with numpy, Pillow and onnxruntime only (no PyTorch).

    python onnx_translate.py model.onnx input.jpg output.png [--tile 512] [--provider cpu|cuda]

It follows the contract in README.md: the spec is read from the file's metadata, pixels are mapped from
[0, 1] to the model's input range, padded (reflection) to the size multiple, run in overlapping tiles
when large (cross-faded, so no seams), cropped back and written as PNG. Grayscale inputs come back gray;
transparency is kept (scaled up for super-resolution models).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps


def load(path: str, provider: str) -> tuple[ort.InferenceSession, dict]:
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if provider == "cuda" else ["CPUExecutionProvider"]
    session = ort.InferenceSession(path, providers=providers)
    if provider == "cuda" and "CUDAExecutionProvider" not in session.get_providers():
        sys.exit(f"error: {path}: the CUDA provider does not load here")
    meta = session.get_modelmeta().custom_metadata_map
    if "gan_translate_spec" not in meta:
        sys.exit(f"error: {path}: not a gan-translate export (no gan_translate_spec metadata)")
    try:
        spec = json.loads(meta["gan_translate_spec"])
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands of levels deep
        sys.exit(f"error: {path}: its gan_translate_spec is not valid JSON")
    if not isinstance(spec, dict) or spec.get("task") not in ("translation", "super-resolution"):
        sys.exit(f"error: {path}: its spec does not describe a translation or super-resolution model")
    check(path, spec, meta)
    spec["tile"] = int(meta.get("recommended_tile", 512))
    spec["overlap"] = int(meta.get("recommended_tile_overlap", 32))
    check_output(path, session, spec)
    return session, spec


def check(path: str, spec: dict, meta: dict) -> None:
    """Exit with one line unless the spec fields this script uses have sane types and ranges: model files come
    from other people, and a wrong value would give a wrong image or a crash."""

    def whole(value: object, low: int, high: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    value_range = spec.get("value_range")
    problems = {
        "size_multiple": whole(spec.get("size_multiple"), 1, 1024),
        "scale": whole(spec.get("scale"), 1, 16),
        "min_multiples": spec.get("min_multiples") is None or whole(spec.get("min_multiples"), 1, 4),
        "value_range": isinstance(value_range, list) and len(value_range) == 2
        and all(whole(v, -10**4, 10**4) or isinstance(v, float) and abs(v) <= 1e4 for v in value_range)
        and value_range[1] - value_range[0] >= max(1e-3, 1e-2 * max(abs(value_range[0]), abs(value_range[1]))),
        "recommended_tile": str(meta.get("recommended_tile", "512")).isdigit(),
        "recommended_tile_overlap": str(meta.get("recommended_tile_overlap", "32")).isdigit(),
    }
    for field, ok in problems.items():
        if not ok:
            sys.exit(f"error: {path}: the spec field {field!r} is missing or out of range")


def check_output(path: str, session: ort.InferenceSession, spec: dict) -> None:
    """One run at the smallest size the spec promises: the output must be that size times the spec's scale."""
    m, s = spec["size_multiple"], spec["scale"]
    h = min_side(spec)
    x = np.zeros((1, 3, h, h + m), np.float32)
    try:
        shape = session.run(None, {session.get_inputs()[0].name: x})[0].shape
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        sys.exit(f"error: {path}: fails on a {h}x{h + m} input, a size its spec promises to take "
                 f"({str(err).splitlines()[0][:200] if str(err) else type(err).__name__})")
    if tuple(shape) != (1, 3, h * s, (h + m) * s):
        sys.exit(f"error: {path}: turns a {h}x{h + m} input into {shape[-2]}x{shape[-1]}, but its spec promises "
                 f"{h * s}x{(h + m) * s} (scale {s})")


def min_side(spec: dict) -> int:
    """The smallest input side to pad to: `min_multiples` size multiples. Exports of version 0.1 lack that field;
    for them, one multiple for the U-Net (built to reach 1x1) and for nets without downsampling, two otherwise
    (more than one pixel at a normalised bottleneck)."""
    m = spec["size_multiple"]
    if spec.get("min_multiples") is not None:
        return spec["min_multiples"] * m
    return m if spec.get("arch") == "unet" or m == 1 else 2 * m


def run_padded(session: ort.InferenceSession, spec: dict, x: np.ndarray) -> np.ndarray:
    """x: (1, C, h, w) in the input range -> (1, C, h*scale, w*scale)."""
    h, w = x.shape[2:]
    m, s = spec["size_multiple"], spec["scale"]
    least = min_side(spec)
    ph, pw = max((-h) % m, least - h), max((-w) % m, least - w)
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect" if ph < h and pw < w else "edge")
    y = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0]
    return y[:, :, : h * s, : w * s]


def window(h: int, w: int, overlap: int, inner: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """Zero over the first quarter of the overlap on shared sides, a raised cosine over the middle half."""

    def profile(n: int, start: bool, end: bool) -> np.ndarray:
        i = np.arange(n, dtype=np.float32)
        weight = np.ones(n, dtype=np.float32)
        for is_inner, distance in ((start, i + 0.5), (end, n - i - 0.5)):
            if is_inner and overlap > 0:
                t = np.clip((distance - overlap / 4) / (overlap / 2), 0.0, 1.0)
                weight = weight * (0.5 - 0.5 * np.cos(np.pi * t))
        return weight

    return profile(h, inner[0], inner[1])[:, None] * profile(w, inner[2], inner[3])[None, :]


def starts(length: int, tile: int, step: int) -> list[int]:
    return [0] if length <= tile else [*range(0, length - tile, step), length - tile]


def translate(session: ort.InferenceSession, spec: dict, pixels: np.ndarray, tile: int) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] -> (H*scale, W*scale, 3) float32 in [0, 1]."""
    low, high = spec["value_range"]
    x = (pixels.transpose(2, 0, 1)[None] * (high - low) + low).astype(np.float32)
    h, w = x.shape[2:]
    if not tile or max(h, w) <= tile:
        y = run_padded(session, spec, x)
    else:
        s, overlap = spec["scale"], spec["overlap"]
        y = np.zeros((1, 3, h * s, w * s), np.float32)
        weights = np.zeros((h * s, w * s), np.float32)
        for top in starts(h, tile, tile - overlap):
            for left in starts(w, tile, tile - overlap):
                part = run_padded(session, spec, x[:, :, top:top + tile, left:left + tile])
                inner = (top > 0, top + tile < h, left > 0, left + tile < w)
                wgt = window(part.shape[2], part.shape[3], overlap * s, inner)
                rows, cols = slice(top * s, top * s + part.shape[2]), slice(left * s, left * s + part.shape[3])
                y[:, :, rows, cols] += part * wgt
                weights[rows, cols] += wgt
        y = y / weights
    return np.clip((y[0].transpose(1, 2, 0) - low) / (high - low), 0.0, 1.0)


def read(path: str) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(RGB pixels (H, W, 3) in [0, 1], alpha (H, W) or None, was it grayscale), EXIF orientation applied."""
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
    except (OSError, SyntaxError, ValueError) as err:
        sys.exit(f"error: {path}: not a readable image ({str(err).splitlines()[0] if str(err) else 'corrupt'})")
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA"):  # e.g. a phone's Display P3: the models work in sRGB
        from PIL import ImageCms

        # a damaged profile leaves the pixels as they are, the best guess
        with contextlib.suppress(ImageCms.PyCMSError, OSError, TypeError, ValueError):
            image = ImageCms.profileToProfile(image, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                              ImageCms.createProfile("sRGB"), outputMode=image.mode)
    if image.mode in ("I;16", "I;16L", "I;16B", "I"):  # 16-bit gray: scale, do not clip, to 8 bits
        gray16 = np.asarray(image, np.float32) / 65535.0
        return np.repeat(np.clip(gray16, 0, 1)[..., None], 3, axis=2), None, True
    gray = image.mode in ("1", "L", "LA")
    has_alpha = "A" in image.mode or "transparency" in image.info
    rgba = np.asarray(image.convert("RGBA"), np.float32) / 255.0
    return rgba[..., :3], (rgba[..., 3] if has_alpha else None), gray


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--tile", type=int, help="largest input side run in one piece (default: the model's)")
    parser.add_argument("--provider", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()
    session, spec = load(args.model, args.provider)
    tile = spec["tile"] if args.tile is None else args.tile
    if tile and not 0 <= spec["overlap"] < tile:
        sys.exit(f"error: --tile {tile} must be larger than the tile overlap ({spec['overlap']}), or 0 for none")
    pixels, alpha, gray = read(args.input)
    out = translate(session, spec, pixels, tile)
    if gray:
        out = out @ np.array([0.299, 0.587, 0.114], np.float32)
    result = Image.fromarray(np.round(out * 255).astype(np.uint8))
    if alpha is not None:
        size = result.size
        a = Image.fromarray(alpha, "F").resize(size, Image.BICUBIC)
        a = Image.fromarray(np.round(np.clip(np.asarray(a), 0, 1) * 255).astype(np.uint8))
        result = result.convert("RGBA" if not gray else "LA")
        result.putalpha(a)
    if result.mode in ("RGBA", "LA") and args.output.lower().endswith((".jpg", ".jpeg")):
        result = result.convert("RGB" if result.mode == "RGBA" else "L")  # JPEG has no alpha: drop it
    try:
        result.save(args.output)
    except (OSError, ValueError) as err:
        sys.exit(f"error: {args.output}: cannot write ({err})")
    print(f"wrote {args.output} ({result.size[0]}x{result.size[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
