"""Low-resolution inputs for super-resolution: how training patches and the real-world test sets are degraded.

A model trained on clean bicubic downscales sharpens benchmark images well but also sharpens the noise and
JPEG blocks of real photos, so training can make each LR patch the way cameras and the web do:

- ``bicubic``: the clean downscale of the benchmarks;
- ``realistic``: one pass of blur, bicubic downscale, sensor noise and JPEG;
- ``second-order``: the "high-order" model of Real-ESRGAN (Wang et al. 2021), a photo that was degraded,
  then resized, re-noised and recompressed again, as images passed around the web are. Each of two passes
  blurs (isotropic or anisotropic Gaussian, or generalised Gaussian with plateau or heavy-tailed kernels),
  resizes by a random factor (bicubic, bilinear or area), adds Gaussian or Poisson noise (in colour or in
  luma only) and compresses as JPEG (quality 30-95); the second pass is skipped a fifth of the time and its
  resize lands on the final LR size. The ranges are narrower than Real-ESRGAN's, which were chosen for its
  much larger networks: strong enough to cover phone and web JPEGs, mild enough for a 0.6 M-parameter net.

Every draw comes from the item's own seed, so a resumed run sees the same data, and the test levels
(:data:`TEST_LEVELS`) are fixed sets, the same on every machine.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from translate.data.resize import bicubic_resize

DEGRADATIONS = ("bicubic", "realistic", "second-order")


@dataclass(frozen=True)
class Pass:
    """The ranges of one degradation pass. Sigmas of blur are in pixels of the image the pass gets; noise
    sigma is in grey levels (0-255); Poisson scale is photons per grey level (smaller: noisier)."""

    blur_p: float
    blur_sigma: tuple[float, float]
    resize: tuple[float, float]  # factor on each side; the last pass resizes to the final LR size instead
    gauss_p: float  # the rest of the noisy cases are Poisson
    noise_p: float
    gauss_sigma: tuple[float, float]
    poisson_scale: tuple[float, float]
    gray_noise_p: float
    jpeg_quality: tuple[int, int]


FIRST = Pass(blur_p=1.0, blur_sigma=(0.2, 2.4), resize=(0.4, 1.3), gauss_p=0.5, noise_p=0.8,
             gauss_sigma=(1.0, 15.0), poisson_scale=(0.5, 8.0), gray_noise_p=0.4, jpeg_quality=(30, 95))
SECOND = Pass(blur_p=0.8, blur_sigma=(0.2, 1.2), resize=(1.0, 1.0), gauss_p=0.5, noise_p=0.6,
              gauss_sigma=(1.0, 10.0), poisson_scale=(1.0, 10.0), gray_noise_p=0.4, jpeg_quality=(30, 95))
SECOND_PASS_P = 0.8
INTERPOLATIONS = ("bicubic", "bilinear", "area")


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
        if self.kind == "second-order":
            return second_order(hr, small, np.random.default_rng(seed)).astype(np.float32) / 255.0
        self.blur.set_random_seed(seed)
        blurred = self.blur(image=np.ascontiguousarray(hr))["image"]
        lr = resize(blurred, small, "bicubic")
        self.camera.set_random_seed(seed + 1)
        return self.camera(image=lr)["image"].astype(np.float32) / 255.0


def second_order(hr: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 -> (size[1], size[0], 3) uint8 through one or two degradation passes (module docstring)."""
    image = _pass(hr, FIRST, None, size, rng)
    if rng.random() < SECOND_PASS_P:
        return _pass(image, SECOND, size, size, rng)
    return _jpeg(resize(image, size, str(rng.choice(INTERPOLATIONS))), int(rng.integers(*FIRST.jpeg_quality,
                                                                                         endpoint=True)))


def _pass(image: np.ndarray, ranges: Pass, target: tuple[int, int] | None, final: tuple[int, int],
          rng: np.random.Generator) -> np.ndarray:
    if rng.random() < ranges.blur_p:
        image = blur(image, random_kernel(rng, ranges.blur_sigma))
    if target is None:  # never below the final size: what is lost there the final resize loses anyway
        factor = rng.uniform(*ranges.resize)
        target = (max(final[0], round(image.shape[1] * factor)), max(final[1], round(image.shape[0] * factor)))
    image = resize(image, target, str(rng.choice(INTERPOLATIONS)))
    if rng.random() < ranges.noise_p:
        gray = rng.random() < ranges.gray_noise_p
        if rng.random() < ranges.gauss_p:
            image = gaussian_noise(image, rng.uniform(*ranges.gauss_sigma), gray, rng)
        else:
            image = poisson_noise(image, rng.uniform(*ranges.poisson_scale), gray, rng)
    return _jpeg(image, int(rng.integers(*ranges.jpeg_quality, endpoint=True)))


def random_kernel(rng: np.random.Generator, sigma: tuple[float, float]) -> np.ndarray:
    """A normalised blur kernel: isotropic Gaussian (half the time), else anisotropic and rotated, as a Gaussian
    or a generalised Gaussian exp(-(d^2/2)^beta) with beta in [0.5, 4] (heavy tails below 1, a plateau above)."""
    s1 = rng.uniform(*sigma)
    if rng.random() < 0.5:
        return gaussian_kernel(s1, s1, 0.0, 1.0)
    s2 = rng.uniform(*sigma)
    beta = 1.0 if rng.random() < 0.5 else float(rng.choice([rng.uniform(0.5, 1.0), rng.uniform(1.0, 4.0)]))
    return gaussian_kernel(s1, s2, rng.uniform(0, np.pi), beta)


def gaussian_kernel(sigma_x: float, sigma_y: float, angle: float, beta: float = 1.0) -> np.ndarray:
    """A (k, k) kernel summing to 1, k odd and about 3 sigmas each side (at most 21)."""
    radius = min(10, max(1, int(np.ceil(3 * max(sigma_x, sigma_y)))))
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1].astype(np.float64)
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * x + s * y, -s * x + c * y
    d2 = (u / sigma_x) ** 2 + (v / sigma_y) ** 2
    kernel = np.exp(-((d2 / 2) ** beta))
    return kernel / kernel.sum()


def blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    import cv2

    out = cv2.filter2D(image.astype(np.float32), -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def resize(image: np.ndarray, size: tuple[int, int], how: str) -> np.ndarray:
    """(H, W, 3) uint8 to (size[1], size[0]); bicubic is antialiased when shrinking (as benchmark LR), bilinear
    and area as OpenCV computes them."""
    import cv2

    if how == "bicubic":
        out = bicubic_resize(image.astype(np.float32) / 255.0, size) * 255.0
        return np.clip(np.round(out), 0, 255).astype(np.uint8)
    flag = {"bilinear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}[how]
    return cv2.resize(np.ascontiguousarray(image), size, interpolation=flag)


def gaussian_noise(image: np.ndarray, sigma: float, gray: bool, rng: np.random.Generator) -> np.ndarray:
    """Add N(0, sigma) grey levels, the same to all three channels when `gray`."""
    shape = image.shape[:2] + ((1,) if gray else (image.shape[2],))
    return np.clip(np.round(image + rng.normal(0.0, sigma, shape)), 0, 255).astype(np.uint8)


def poisson_noise(image: np.ndarray, scale: float, gray: bool, rng: np.random.Generator) -> np.ndarray:
    """Photon noise: each value counted as Poisson(value * scale) / scale; in luma only when `gray`."""
    values = image.astype(np.float64)
    if gray:
        luma = values @ np.array([0.299, 0.587, 0.114])
        noise = (rng.poisson(luma * scale) / scale - luma)[..., None]
    else:
        noise = rng.poisson(values * scale) / scale - values
    return np.clip(np.round(values + noise), 0, 255).astype(np.uint8)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]


@dataclass(frozen=True)
class Level:
    """One fixed real-world test degradation: blur the HR (sigma in HR pixels, 0: none), shrink it by the scale
    (antialiased bicubic), add Gaussian colour noise (grey levels), save as JPEG at `quality`."""

    blur_sigma: float
    noise_sigma: float
    quality: int


TEST_LEVELS = {
    "clean": None,
    "light": Level(blur_sigma=0.0, noise_sigma=0.0, quality=90),
    "medium": Level(blur_sigma=1.2, noise_sigma=0.0, quality=70),
    "heavy": Level(blur_sigma=1.2, noise_sigma=5.0, quality=50),
}
"""The real-world test levels of ``evaluate-sr --degradation``: clean is the benchmark's bicubic LR; light is a
good web JPEG; medium a softer camera and a typical web JPEG; heavy adds sensor noise and strong compression."""


def real_world_lr(hr: np.ndarray, scale: int, level: str, name: str) -> np.ndarray:
    """The fixed LR of `level` for HR (H, W, 3) in [0, 1] (H, W multiples of `scale`), as (h, w, 3) in [0, 1].
    Its noise is drawn from a seed made of the file `name`, so the set is the same on every machine."""
    small = (hr.shape[1] // scale, hr.shape[0] // scale)
    spec = TEST_LEVELS[level]
    if spec is None:
        return bicubic_resize(hr, small)
    image = np.clip(np.round(hr * 255), 0, 255).astype(np.uint8)
    if hr.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if spec.blur_sigma:
        image = blur(image, gaussian_kernel(spec.blur_sigma, spec.blur_sigma, 0.0))
    image = resize(image, small, "bicubic")
    if spec.noise_sigma:
        rng = np.random.default_rng(zlib.crc32(f"{level}/{name}".encode()))
        image = gaussian_noise(image, spec.noise_sigma, False, rng)
    lr = _jpeg(image, spec.quality).astype(np.float32) / 255.0
    return lr.mean(axis=2) if hr.ndim == 2 else lr
