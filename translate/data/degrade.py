"""Low-resolution inputs for super-resolution training: clean bicubic, or a realistic first-order degradation.

A model trained on clean bicubic downscales sharpens benchmark images well but also sharpens the noise and
JPEG blocks of real photos. The realistic option makes each LR patch the way cameras and the web do (the
first-order model of Wang et al. 2021, Real-ESRGAN): blur the HR patch, downscale it, add sensor noise,
then compress it as JPEG. Each step is drawn from the item's own seed, so a resumed run sees the same data.
"""

from __future__ import annotations

import numpy as np

from translate.data.resize import bicubic_resize

DEGRADATIONS = ("bicubic", "realistic")


class Degrader:
    """HR patch (H, W, 3) uint8 -> LR patch (H/scale, W/scale, 3) float32 in [0, 1], rounded to 8 bits."""

    def __init__(self, scale: int, kind: str = "bicubic") -> None:
        if kind not in DEGRADATIONS:
            raise ValueError(f"degradation must be one of {', '.join(DEGRADATIONS)}, got {kind!r}")
        self.scale, self.kind = scale, kind
        if kind == "realistic":
            import albumentations as A

            # sigma in HR pixels: up to about half an LR pixel of extra softness at x4
            self.blur = A.Compose([A.GaussianBlur(blur_limit=0, sigma_limit=(0.2, 2.0), p=0.8)])
            self.camera = A.Compose([
                A.GaussNoise(std_range=(0.004, 0.04), per_channel=True, p=0.5),  # 1 to 10 grey levels
                A.ImageCompression(compression_type="jpeg", quality_range=(30, 95), p=0.8),
            ])

    def __call__(self, hr: np.ndarray, seed: int) -> np.ndarray:
        small = (hr.shape[1] // self.scale, hr.shape[0] // self.scale)
        if self.kind == "bicubic":
            return bicubic_resize(hr.astype(np.float32) / 255.0, small)
        self.blur.set_random_seed(seed)
        blurred = self.blur(image=np.ascontiguousarray(hr))["image"]
        lr = np.round(bicubic_resize(blurred.astype(np.float32) / 255.0, small) * 255).astype(np.uint8)
        self.camera.set_random_seed(seed + 1)
        return self.camera(image=lr)["image"].astype(np.float32) / 255.0
