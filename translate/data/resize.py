"""Bicubic resizing that matches the super-resolution literature.

Benchmarks make LR images with MATLAB's ``imresize(hr, 1/scale, 'bicubic')``: a Keys cubic with a = -0.5
whose support widens with the downscale factor (antialiasing), results rounded to 8 bits. Pillow's
BICUBIC filter is the same kernel with the same antialiasing, so it is used here.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def bicubic_resize(pixels: np.ndarray, size: tuple[int, int], quantize: bool = True) -> np.ndarray:
    """(H, W, C) or (H, W) float pixels in [0, 1] -> resized to size=(width, height).

    quantize: round the result to 8-bit levels, as benchmark LR images are stored.
    """
    channels = [pixels] if pixels.ndim == 2 else [pixels[..., i] for i in range(pixels.shape[2])]
    out = [np.asarray(Image.fromarray(np.ascontiguousarray(c, dtype=np.float32), "F").resize(size, Image.BICUBIC))
           for c in channels]
    result = np.clip(out[0] if pixels.ndim == 2 else np.stack(out, axis=2), 0.0, 1.0)
    return np.round(result * 255.0) / 255.0 if quantize else result


def mod_crop(pixels: np.ndarray, multiple: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of `multiple`."""
    h, w = pixels.shape[:2]
    return pixels[: h - h % multiple, : w - w % multiple]
