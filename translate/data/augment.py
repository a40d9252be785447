"""Seeded geometric augmentation for translation training: every random choice comes from the caller's
generator, so an item's augmentation depends only on its seed (exact resume, any number of workers)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize_shorter(image: Image.Image, size: int) -> Image.Image:
    """Scale so the shorter side is `size` (bicubic, antialiased when shrinking)."""
    w, h = image.size
    factor = size / min(w, h)
    new = (max(size, round(w * factor)), max(size, round(h * factor)))
    return image if new == (w, h) else image.resize(new, Image.BICUBIC)


def random_view(image: Image.Image, rng: np.random.Generator, crop: int, load_size: int, scale_jitter: float = 1.0,
                flip: bool = True) -> np.ndarray:
    """A random crop x crop view as float32 (crop, crop, C) in [0, 1].

    The image is first scaled so its shorter side is load_size * s, s uniform in [1, scale_jitter]
    (jitter > 1 gives views at several scales: how a single painting yields a whole epoch), then
    cropped at a random place and mirrored with probability 1/2.
    """
    side = round(load_size * rng.uniform(1.0, scale_jitter)) if scale_jitter > 1 else load_size
    scaled = resize_shorter(image, side)
    w, h = scaled.size
    left, top = int(rng.integers(0, w - crop + 1)), int(rng.integers(0, h - crop + 1))
    view = np.asarray(scaled.crop((left, top, left + crop, top + crop)), dtype=np.float32) / 255.0
    if flip and rng.random() < 0.5:
        view = view[:, ::-1]
    return np.ascontiguousarray(view)


def centre_view(image: Image.Image, crop: int, load_size: int) -> np.ndarray:
    """The deterministic counterpart of random_view: centre crop, no flip (sample grids, the images of a GAN folder)."""
    scaled = resize_shorter(image, load_size)
    w, h = scaled.size
    left, top = (w - crop) // 2, (h - crop) // 2
    return np.asarray(scaled.crop((left, top, left + crop, top + crop)), dtype=np.float32) / 255.0
