"""A classifier two-sample test: can a small CNN tell translated images from real ones it has not seen?

Two sets of images (e.g. Van Gogh's paintings and photos translated into his style) are each split in half
by image, never by crop, so no image lends crops to both training and test. A small CNN learns to tell
random crops of the two training halves apart and is scored on crops of the two test halves. Its balanced
accuracy (the mean of the two per-set accuracies) is 0.5 when the sets cannot be told apart and 1.0 when
they differ trivially: unlike a classifier trained on real photos against real paintings, it does not
saturate once translations pass as paintings, because it is trained on the translations themselves
(Lopez-Paz and Oquab 2017). On luminance only (BT.601 Y), colour cannot decide, so strokes and texture
must. KID (Binkowski et al. 2018) compares the two test halves in the trained network's penultimate
features: the unbiased MMD^2 under the kernel (x.y / d + 1)^3, 0 in expectation for one distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from translate.data.augment import resize_shorter

CROP = 64
SIZE = 256  # images are compared with their shorter side at this scale, where brush strokes are a few pixels wide
_LUMA = torch.tensor([0.299, 0.587, 0.114])


class TwoSampleNet(nn.Module):
    """(N, C, crop, crop) in [-1, 1] -> logits (N, 2); `features` gives the pooled penultimate layer (N, 64)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_channels
        for out in (16, 32, 64, 64):
            layers += [nn.Conv2d(width, out, 3, stride=2, padding=1), nn.BatchNorm2d(out), nn.ReLU(True)]
            width = out
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(width, 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def as_uint8_tensors(images: list[Image.Image | np.ndarray], size: int = SIZE) -> list[torch.Tensor]:
    """Each image (PIL, or (H, W, 3) floats in [0, 1]) scaled to shorter side `size`, as (3, H, W) uint8."""
    out = []
    for image in images:
        if isinstance(image, np.ndarray):
            image = Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))
        scaled = resize_shorter(image.convert("RGB"), size)
        out.append(torch.from_numpy(np.asarray(scaled).copy()).permute(2, 0, 1).contiguous())
    return out


def split_halves(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random split of image indices 0 .. count - 1 into a training and a test half (the test half gets
    the odd one out)."""
    order = rng.permutation(count)
    return np.sort(order[: count // 2]), np.sort(order[count // 2:])


def sample_crops(images: list[torch.Tensor], indices: np.ndarray, n: int, crop: int,
                 rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
    """n random crop x crop views (half of them mirrored) of the images at `indices`, as ((n, 3, crop, crop)
    in [-1, 1], the index of the image each crop came from)."""
    sources = indices[rng.integers(len(indices), size=n)]
    views = []
    for i in sources:
        image = images[i]
        top = int(rng.integers(image.shape[1] - crop + 1))
        left = int(rng.integers(image.shape[2] - crop + 1))
        view = image[:, top:top + crop, left:left + crop]
        views.append(view.flip(2) if rng.random() < 0.5 else view)
    return torch.stack(views).float() / 127.5 - 1.0, sources


def to_luminance(batch: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [-1, 1] -> (N, 1, H, W) BT.601 luma in [-1, 1]."""
    return (batch * _LUMA.view(1, 3, 1, 1)).sum(1, keepdim=True)


def kid(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 between feature sets x (m, d) and y (n, d) under the kernel (a.b / d + 1)^3."""
    if len(x) < 2 or len(y) < 2:
        raise ValueError("KID needs at least two feature vectors on each side")
    x, y = x.double(), y.double()
    d = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(within_x + within_y - 2 * kxy.mean())


@dataclass(frozen=True)
class SeedResult:
    accuracy: float  # balanced: mean of the accuracy on each test half
    kid: float


def run_seed(first: list[torch.Tensor], second: list[torch.Tensor], seed: int, luminance: bool = False,
             steps: int = 500, batch: int = 32, test_crops: int = 512, crop: int = CROP) -> SeedResult:
    """One two-sample test of uint8 image sets `first` and `second` (from as_uint8_tensors), seeded."""
    for name, images in (("first", first), ("second", second)):
        if len(images) < 2:
            raise ValueError(f"the two-sample test needs at least 2 images in each set; the {name} has {len(images)}")
        if min(min(im.shape[1:]) for im in images) < crop:
            raise ValueError(f"an image of the {name} set is smaller than the {crop}-pixel crop")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    halves = [split_halves(len(first), rng), split_halves(len(second), rng)]
    net = TwoSampleNet(1 if luminance else 3)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    labels = torch.cat([torch.zeros(batch, dtype=torch.long), torch.ones(batch, dtype=torch.long)])

    def crops_of(images: list[torch.Tensor], indices: np.ndarray, n: int) -> torch.Tensor:
        views, _ = sample_crops(images, indices, n, crop, rng)
        return to_luminance(views) if luminance else views

    net.train()
    for _ in range(steps):
        inputs = torch.cat([crops_of(first, halves[0][0], batch), crops_of(second, halves[1][0], batch)])
        loss = F.cross_entropy(net(inputs), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    net.eval()
    with torch.no_grad():
        tests = [crops_of(first, halves[0][1], test_crops), crops_of(second, halves[1][1], test_crops)]
        features = [net.features(t) for t in tests]
        hits = [float((net.head(f).argmax(1) == label).float().mean()) for label, f in enumerate(features)]
    return SeedResult(accuracy=(hits[0] + hits[1]) / 2, kid=kid(features[0], features[1]))


@dataclass(frozen=True)
class TwoSampleScore:
    seeds: tuple[SeedResult, ...]

    @property
    def accuracy(self) -> float:
        return float(np.mean([s.accuracy for s in self.seeds]))

    @property
    def accuracy_spread(self) -> float:
        """Population standard deviation over the seeds."""
        return float(np.std([s.accuracy for s in self.seeds]))

    @property
    def kid(self) -> float:
        return float(np.mean([s.kid for s in self.seeds]))

    @property
    def kid_spread(self) -> float:
        return float(np.std([s.kid for s in self.seeds]))


def two_sample_test(first: list[torch.Tensor], second: list[torch.Tensor], seeds: int = 3, **options) -> TwoSampleScore:
    """run_seed for seeds 0 .. seeds - 1 (options: luminance, steps, batch, test_crops, crop)."""
    return TwoSampleScore(tuple(run_seed(first, second, seed, **options) for seed in range(seeds)))
