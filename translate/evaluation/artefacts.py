"""Figures for the two defects a translator leaves that a domain classifier barely weighs.

Blotches: small patches of a strong colour (a red or green ring round a dark core) that the image around
them does not hold. Colour is taken as chroma over brightness (Cb and Cr of BT.601 YCbCr divided by Y plus a
floor), so that a dark red blotch counts as much as a bright one. A pixel is a colour outlier when its colour,
lightly smoothed (sigma 1.5 pixels, which averages the brush's hatching away), lies far from the colour of
its neighbourhood (sigma 10 pixels): hatching moves colour a little everywhere, a blotch a lot in one place.
A photo holds such outliers too (a red bridge against blue water); given the source image, only the
outliers the translation created count, where the source has nothing like them.

Border streaks: lines of a different colour running along an edge a few pixels in. Averaged along the edge,
the colour of each line of pixels near a natural border follows the trend of the lines further in; a streak
stands out from that trend. The figure is the largest such departure, over the four edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

FINE, COARSE = 1.5, 10.0  # Gaussian sigmas in pixels: the hatching averages out at FINE; a blotch is within COARSE
DARK_FLOOR = 0.2  # added to Y before dividing chroma by it: dark noise is not amplified without bound
OUTLIER = 0.25  # colour distance that flags a pixel; grey to pure red is 1.06, hatching rarely passes 0.15
BAND = 16  # border lines examined; the trend is fitted on the next 2 * BAND lines in

_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def to_ycbcr(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB in [0, 1] -> (H, W, 3) BT.601 Y in [0, 1], Cb and Cr in [-0.5, 0.5]."""
    return pixels.astype(np.float64) @ _YCBCR.T


def gaussian_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W, C) -> (H, W, C) blurred with a separable Gaussian; edges repeat the border pixel."""
    radius = max(1, int(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = a.shape[2]
    t = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float64))[None]
    t = F.pad(t, (radius, radius, radius, radius), mode="replicate")
    t = F.conv2d(t, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    t = F.conv2d(t, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)
    return t[0].numpy().transpose(1, 2, 0)


def colour_distance(pixels: np.ndarray) -> np.ndarray:
    """(H, W): how far each pixel's lightly smoothed colour is from its neighbourhood's (see the module doc)."""
    ycc = to_ycbcr(pixels)
    colour = ycc[..., 1:] / (ycc[..., :1] + DARK_FLOOR)
    return np.linalg.norm(gaussian_blur(colour, FINE) - gaussian_blur(colour, COARSE), axis=2)


def colour_outliers(pixels: np.ndarray, source: np.ndarray | None = None, threshold: float = OUTLIER) -> np.ndarray:
    """(H, W) bool: the colour outliers of `pixels`; with `source` (the image it was translated from, same
    size), only those where the source's own colour distance stays under half the threshold."""
    flagged = colour_distance(pixels) > threshold
    if source is not None:
        if source.shape[:2] != pixels.shape[:2]:
            raise ValueError(f"source is {source.shape[:2]}, output {pixels.shape[:2]}: not the same size")
        flagged &= colour_distance(source) < threshold / 2
    return flagged


def border_streak(pixels: np.ndarray, band: int = BAND) -> float:
    """Largest departure (YCbCr distance) of an edge line's mean colour from the trend of the lines further in.

    For each edge, the mean colour of every line parallel to it is taken at depths 0 .. 3 * band - 1; a
    straight line fitted on depths band .. 3 * band - 1 predicts the first `band` lines, and the figure is
    the largest distance between a line and its prediction over the four edges. An image too small to hold
    the three bands scores 0.
    """
    ycc = to_ycbcr(pixels)
    h, w = ycc.shape[:2]
    if min(h, w) < 6 * band:
        return 0.0
    profiles = (ycc.mean(axis=1), ycc[::-1].mean(axis=1), ycc.mean(axis=0), ycc[:, ::-1].mean(axis=0))
    depth = np.arange(3 * band, dtype=np.float64)
    worst = 0.0
    for profile in profiles:
        inner = slice(band, 3 * band)
        slope, intercept = np.polyfit(depth[inner], profile[inner], 1)
        predicted = depth[:band, None] * slope + intercept
        worst = max(worst, float(np.linalg.norm(profile[:band] - predicted, axis=1).max()))
    return worst


@dataclass(frozen=True)
class ArtefactScore:
    images: int
    outlier_share: float  # mean over images of the share of colour-outlier pixels
    new_outlier_share: float  # the same, counting only the outliers their source image has nothing like
    border_streak: float  # mean over images of border_streak


def artefact_score(images: list[np.ndarray], sources: list[np.ndarray]) -> ArtefactScore:
    """The figures averaged over (H, W, 3) RGB images in [0, 1], made from `sources` (the same sizes)."""
    if len(images) != len(sources) or not images:
        raise ValueError(f"need one source per image and at least one image, got {len(images)} and {len(sources)}")
    shares = [float(colour_outliers(im).mean()) for im in images]
    new = [float(colour_outliers(im, src).mean()) for im, src in zip(images, sources)]
    streaks = [border_streak(im) for im in images]
    return ArtefactScore(len(images), float(np.mean(shares)), float(np.mean(new)), float(np.mean(streaks)))


def mark_outliers(pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image beside a darkened copy with the flagged pixels in white, (H, 2 W, 3), to look at at 1:1."""
    marked = pixels.astype(np.float32) * 0.5
    marked[mask] = 1.0
    return np.concatenate([pixels.astype(np.float32), marked], axis=1)
