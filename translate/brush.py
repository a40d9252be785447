"""Brush scale: translate a photo at the size a style model learned, then bring the result back to full size.

A translator learns strokes at the scale of its training images (256 pixels a side for the CycleGAN sets and the
bundled models), so on a 2-megapixel photo it paints strokes a few pixels wide: fine hatching rather than a
brush. Running it on a smaller copy gives strokes that are larger relative to the picture. The small result is
then brought back to the photo's size by guided upsampling (the fast guided filter of He and Sun 2015): in each
small window the result is fitted as a linear function of the photo's luma, and those local fits, upsampled,
are applied to the full-size luma. Edges therefore stay where the photo has them, crisp, while colours and
strokes come from the translation; where the photo is flat, the fit is flat and the strokes stay as painted.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the command line reads BRUSHES before torch is wanted
    from translate.data.io import DecodedImage
    from translate.inference import Output, Progress, Translator

LEARNED_SIDE = 256
"""The shorter image side the bundled translators (and the CycleGAN sets) were trained at."""

BRUSHES = {"fine": None, "medium": 2.0, "large": 1.25}
"""Brush name -> working size: the shorter side as a multiple of LEARNED_SIDE (None: the photo's own size)."""


def working_size(size: tuple[int, int], brush: str) -> tuple[int, int] | None:
    """(w, h) to translate an image of `size` (w, h) at, or None to translate it as it is (fine brush, or an
    image already at or below the working size)."""
    factor = BRUSHES[brush]
    if factor is None:
        return None
    scale = factor * LEARNED_SIDE / min(size)
    if scale >= 1:
        return None
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def guided_upsample(small: np.ndarray, guide: np.ndarray, radius: int = 2, eps: float = 1e-3) -> np.ndarray:
    """Bring `small` (h, w, C) in [0, 1] up to the size of `guide` (H, W, 3) or (H, W) in [0, 1], following the
    guide's edges. The linear fits use windows of `radius` pixels of the small image; `eps` damps the fit where
    the guide varies less than about sqrt(eps) (there the result stays as `small` paints it)."""
    import cv2

    from translate.data.convert import to_gray

    luma = (guide if guide.ndim == 2 else to_gray(guide)).astype(np.float32)
    big_h, big_w = luma.shape
    h, w = small.shape[:2]
    low = cv2.resize(luma, (w, h), interpolation=cv2.INTER_AREA)
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.blur(x, size, borderType=cv2.BORDER_REFLECT)

    channels = small.reshape(h, w, -1).astype(np.float32)
    mean_i = box(low)
    var_i = box(low * low) - mean_i * mean_i
    out = np.empty((big_h, big_w, channels.shape[2]), np.float32)
    for c in range(channels.shape[2]):
        p = channels[..., c]
        mean_p = box(p)
        a = (box(low * p) - mean_i * mean_p) / (var_i + eps)
        b = mean_p - a * mean_i
        a_big = cv2.resize(box(a), (big_w, big_h), interpolation=cv2.INTER_LINEAR)
        b_big = cv2.resize(box(b), (big_w, big_h), interpolation=cv2.INTER_LINEAR)
        # the fit averages over windows, which would smooth the strokes away: add them back from the painting
        strokes = cv2.resize(p - (a * low + b), (big_w, big_h), interpolation=cv2.INTER_CUBIC)
        out[..., c] = a_big * luma + b_big + strokes
    out = np.clip(out, 0.0, 1.0)
    return out.reshape(big_h, big_w) if small.ndim == 2 else out


def paint(translator: Translator, decoded: DecodedImage, brush: str,
          progress: Progress | None = None) -> Output:
    """`translator`'s output for `decoded` at `brush`: at the working size and guided back up to the input's
    size, or as it is (fine, super-resolution and other models whose output is not a repainting)."""
    from translate.data.resize import bicubic_resize
    from translate.inference import Output

    size = working_size(decoded.size, brush) if translator.spec.task == "translation" else None
    if size is None:
        return translator.image(decoded, progress)
    small = dataclasses.replace(decoded, pixels=bicubic_resize(decoded.pixels, size, quantize=False), alpha=None)
    painted = translator.image(small, progress).pixels
    return Output(guided_upsample(painted, decoded.pixels), decoded.alpha)
