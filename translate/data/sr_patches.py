"""Super-resolution training patches: random HR crops of a folder (or several) with LR made on the fly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from translate.data.convert import to_tensor
from translate.data.io import list_images, read_image
from translate.errors import ConfigError


class SRPatches(Dataset):
    """Random HR crops from a folder of HR images, with LR made on the fly by bicubic downscaling
    (`degradation` "bicubic"), or by blur, downscaling, noise and JPEG, once ("realistic") or twice with random
    kernels and resizes ("second-order"; see data/degrade.py).

    All HR images are decoded once and kept in memory as 8-bit arrays. Items: {"lr": (3, crop/scale,
    crop/scale), "hr": (3, crop, crop)}, both in [0, 1]; the LR is rounded to 8 bits like benchmark LR
    files. Each item draws its crop, flips and 90-degree turn from its own seed. One epoch is
    `patches_per_image` items per image. Images smaller than the crop are upscaled to fit (with a note).

    `root` is one folder or several (the "291" set is T91 + BSD200). `scale_jitter` s < 1 first shrinks
    the HR image by a random factor in [s, 1] (as VDSR augments the 291 set with scales 0.6 to 1): a crop
    of crop / factor pixels is resized to the crop, so the net sees structures at several sizes.
    """

    def __init__(self, root: str | Path | Sequence[str | Path], scale: int, crop: int, patches_per_image: int = 100,
                 degradation: str = "bicubic", scale_jitter: float = 1.0) -> None:
        from translate.data.degrade import Degrader
        from translate.data.resize import bicubic_resize

        if crop % scale:
            raise ConfigError(f"crop {crop} must be a multiple of scale {scale}")
        if not 0.0 < scale_jitter <= 1.0:
            raise ConfigError(f"scale_jitter must be in (0, 1], got {scale_jitter}")
        roots = [root] if isinstance(root, str | Path) else list(root)
        self.files = [path for folder in roots for path in list_images(folder)]
        self.scale, self.crop, self.patches_per_image = scale, crop, patches_per_image
        self.scale_jitter = scale_jitter
        self.degrade = Degrader(scale, degradation)
        self.images: list[np.ndarray] = []
        for path in self.files:
            pixels = read_image(path).pixels
            h, w = pixels.shape[:2]
            if min(h, w) < crop:
                factor = crop / min(h, w)
                size = (max(crop, round(w * factor)), max(crop, round(h * factor)))
                print(f"note: {path} is {w}x{h}, smaller than the {crop} crop; upscaled to {size[0]}x{size[1]}")
                pixels = bicubic_resize(pixels, size)
            self.images.append(np.round(pixels * 255).astype(np.uint8))

    def __len__(self) -> int:
        return len(self.images) * self.patches_per_image

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        rng = np.random.default_rng(seed)
        image = self.images[index % len(self.images)]
        h, w = image.shape[:2]
        size = self.crop
        if self.scale_jitter < 1.0:
            size = min(h, w, round(self.crop / rng.uniform(self.scale_jitter, 1.0)))
        top, left = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        hr = image[top:top + size, left:left + size]
        if size != self.crop:
            from PIL import Image

            hr = np.asarray(Image.fromarray(hr).resize((self.crop, self.crop), Image.Resampling.BICUBIC))
        if rng.random() < 0.5:
            hr = hr[:, ::-1]
        hr = np.rot90(hr, k=int(rng.integers(0, 4)))
        lr = self.degrade(hr, seed)
        return {"lr": to_tensor(lr, (0.0, 1.0)), "hr": to_tensor(hr.astype(np.float32) / 255.0, (0.0, 1.0))}
