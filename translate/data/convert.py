"""Image <-> tensor conversion, the one place that maps pixel values to network values."""

from __future__ import annotations

import numpy as np
import torch


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB -> (H, W) luma with ITU-R BT.601 weights (what Pillow's "L" conversion uses)."""
    return pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def to_tensor(pixels: np.ndarray, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """(H, W, C) or (H, W) float pixels in [0, 1] -> (C, H, W) float32 tensor in `value_range`."""
    array = pixels[..., None] if pixels.ndim == 2 else pixels
    tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32))
    low, high = value_range
    return tensor * (high - low) + low


def to_pixels(tensor: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """(C, H, W) tensor in `value_range` -> (H, W, C) float32 pixels clipped to [0, 1] ((H, W) for C=1)."""
    if tensor.ndim != 3:
        raise ValueError(f"expected a (C, H, W) tensor, got shape {tuple(tensor.shape)}")
    low, high = value_range
    unit = ((tensor.detach().float().cpu() - low) / (high - low)).clamp_(0.0, 1.0)
    array = unit.permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[2] == 1 else array

