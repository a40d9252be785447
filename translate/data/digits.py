"""The UCI handwritten digits (a CSV of 8x8 images) as a dataset for the generation recipes."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from translate.errors import ConfigError


class TensorImages(Dataset):
    """Images already in memory: items {"image": (C, S, S) in [-1, 1], "label": int}."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...]) -> None:
        self.images, self.labels, self.class_names = images, labels, class_names

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, _ = key
        return {"image": self.images[index], "label": int(self.labels[index])}


def load_digits(path: str | Path, image_size: int) -> TensorImages:
    """The UCI handwritten digits CSV (64 pixel values 0..16 then the label per row), upscaled to
    `image_size` with bilinear interpolation, values mapped to [-1, 1]."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: digits file not found (the bundled copy is datasets/samples/digits/digits.csv.gz)")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: not a digits CSV ({str(err).splitlines()[0]})") from None
    if table.ndim != 2 or table.shape[1] != 65:
        raise ConfigError(f"{path}: expected 65 columns (8x8 pixels + label), got shape {table.shape}")
    pixels = torch.from_numpy(table[:, :64] / 16.0).view(-1, 1, 8, 8)
    if image_size != 8:
        pixels = F.interpolate(pixels, size=(image_size, image_size), mode="bilinear", align_corners=False)
    images = pixels.clamp(0, 1) * 2 - 1
    return TensorImages(images, torch.from_numpy(table[:, 64].astype(np.int64)), tuple(str(i) for i in range(10)))
