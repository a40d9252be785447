"""Measures a paired translator (pix2pix) against the ground truth of held-out pairs.

pix2pix's point is sharpness: an L1-only net scores well on L1 by averaging plausible outputs into a blur,
the adversarial loss trades a little L1 for real-looking detail. So beside L1, PSNR and SSIM to the real
images this reports a sharpness figure, the mean gradient magnitude of the luminance, for the outputs and for
the real images: the closer the two, the more the outputs carry the real images' detail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from translate.evaluation.metrics import psnr, rgb_to_y, ssim


@dataclass(frozen=True)
class PairedScores:
    pairs: int
    l1: float                 # mean |output - target|, pixels in [0, 1]
    psnr: float               # dB, RGB, 8-bit scale
    ssim: float               # luminance (BT.601 Y) SSIM
    sharpness: float          # mean gradient magnitude of the outputs' luminance (0..1 per pixel)
    real_sharpness: float     # the same for the real target images


def gradient_magnitude(pixels: np.ndarray) -> float:
    """Mean |grad| of the luminance of (H, W, 3) pixels in [0, 1], by central differences."""
    y = (rgb_to_y(pixels) - 16.0) / 219.0
    gy, gx = np.gradient(y.astype(np.float64))
    return float(np.mean(np.hypot(gx, gy)))


def score_pairs(translate: Callable[[np.ndarray], np.ndarray],
                pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> PairedScores:
    """Scores over (input, target) pairs of (H, W, 3) float pixels in [0, 1]; `translate` maps an input to
    an output of the target's shape."""
    l1, db, ss, sharp, real_sharp = [], [], [], [], []
    for source, target in pairs:
        out = np.clip(translate(source), 0.0, 1.0)
        if out.shape != target.shape:
            raise ValueError(f"the output is {out.shape[1]}x{out.shape[0]}, the target {target.shape[1]}x"
                             f"{target.shape[0]}")
        out8, target8 = np.round(out * 255.0), np.round(target * 255.0)
        l1.append(float(np.mean(np.abs(out8 - target8))) / 255.0)
        db.append(psnr(out8, target8))
        ss.append(ssim(rgb_to_y(out8 / 255.0), rgb_to_y(target8 / 255.0)))
        sharp.append(gradient_magnitude(out8 / 255.0))
        real_sharp.append(gradient_magnitude(target8 / 255.0))
    if not l1:
        raise ValueError("no pairs to score")
    return PairedScores(len(l1), *(float(np.mean(v)) for v in (l1, db, ss, sharp, real_sharp)))
