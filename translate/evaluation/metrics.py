"""Image quality measures.

PSNR and SSIM follow the super-resolution convention: computed on the luma (Y) channel of ITU-R BT.601
YCbCr (values 16..235), after cropping `border` pixels from every side.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F


def rgb_to_y(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB in [0, 1] -> (H, W) BT.601 luma in [16, 235] (as MATLAB's rgb2ycbcr); grayscale passes."""
    if pixels.ndim == 2:
        return 16.0 + 219.0 * pixels.astype(np.float64)
    return 16.0 + pixels.astype(np.float64) @ np.array([65.481, 128.553, 24.966])


def _crop(a: np.ndarray, border: int) -> np.ndarray:
    return a[border:-border, border:-border] if border > 0 else a


def psnr(a: np.ndarray, b: np.ndarray, border: int = 0, peak: float = 255.0) -> float:
    """PSNR in dB between two equal-shape arrays on a 0..peak scale; inf when identical."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((_crop(a, border).astype(np.float64) - _crop(b, border).astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def ssim(a: np.ndarray, b: np.ndarray, border: int = 0, peak: float = 255.0) -> float:
    """Mean SSIM of two (H, W) arrays (Wang et al. 2004): 11x11 Gaussian window with sigma 1.5, K1 0.01,
    K2 0.03, over the positions where the window fits (as the reference MATLAB code)."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"ssim needs two equal (H, W) arrays, got {a.shape} and {b.shape}")
    x = torch.from_numpy(_crop(a, border).astype(np.float64))[None, None]
    y = torch.from_numpy(_crop(b, border).astype(np.float64))[None, None]
    coords = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    window = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]
    mu_x, mu_y = F.conv2d(x, window), F.conv2d(y, window)
    sxx = F.conv2d(x * x, window) - mu_x**2
    syy = F.conv2d(y * y, window) - mu_y**2
    sxy = F.conv2d(x * y, window) - mu_x * mu_y
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    return float(ssim_map.mean())


def sharpness(y: np.ndarray, border: int = 0) -> float:
    """Mean gradient magnitude of (H, W) luma (central differences), `border` pixels cropped: how much fine
    detail an image has. Divided by the HR's, it says whether an output is softer (< 1) or harsher (> 1)."""
    y = _crop(y.astype(np.float64), border)
    gy, gx = np.gradient(y)
    return float(np.mean(np.hypot(gx, gy)))


Upscale = Callable[[np.ndarray], np.ndarray]
"""(h, w, 3) LR pixels in [0, 1] -> (h * scale, w * scale, 3)."""


def evaluate_sr_folder(folder: str, scale: int, upscalers: dict[str, Upscale] | None = None,
                       level: str = "clean") -> dict[str, float]:
    """Mean Y-PSNR/SSIM and relative sharpness of bicubic and each of `upscalers` on every HR image of `folder`.

    HR is cropped to a multiple of `scale`; LR is made by the test `level` of translate.data.degrade
    (clean: the benchmarks' 8-bit bicubic downscale; light, medium, heavy: fixed blur, noise and JPEG);
    `scale` border pixels are ignored. Returns {"images", "NAME_psnr", "NAME_ssim", "NAME_sharpness"} for
    NAME "bicubic" and each upscaler's name; sharpness is the output's mean luma gradient over the HR's.
    """
    from translate.data.degrade import real_world_lr
    from translate.data.io import list_images, read_image
    from translate.data.resize import bicubic_resize, mod_crop
    from translate.errors import ImageError

    sums: dict[str, float] = {}
    files = list_images(folder)
    for path in files:
        pixels = read_image(path).pixels
        hr = mod_crop(pixels, scale)
        h, w = hr.shape[:2]
        if min(h, w) < 11 + 2 * scale:  # SSIM's 11x11 window must fit inside the border crop
            raise ImageError(f"{path}: {pixels.shape[1]}x{pixels.shape[0]} is too small to measure at x{scale} "
                             f"(needs at least {11 + 2 * scale} pixels a side)")
        lr = real_world_lr(hr, scale, level, path.name)
        outputs = {"bicubic": bicubic_resize(lr, (w, h))}
        for name, upscale in (upscalers or {}).items():
            outputs[name] = np.round(np.clip(upscale(lr), 0, 1) * 255) / 255
        y_hr = rgb_to_y(hr)
        hr_sharpness = sharpness(y_hr, scale)
        for name, out in outputs.items():
            y = rgb_to_y(out)
            for measure, value in (("psnr", psnr(y_hr, y, border=scale)), ("ssim", ssim(y_hr, y, border=scale)),
                                   ("sharpness", sharpness(y, scale) / hr_sharpness)):
                sums[f"{name}_{measure}"] = sums.get(f"{name}_{measure}", 0.0) + value
    return {"images": len(files), **{k: v / len(files) for k, v in sums.items()}}
