"""Measuring an unpaired translator without paired ground truth.

A small CNN is trained here to tell random crops of the two real domains apart (e.g. photos vs Van
Gogh's paintings). Images the translator never saw are then translated A -> B; the share of their crops
the classifier calls B says how convincingly the style moved. The same share on the untranslated images
is the floor (crops of real A called B), and the cycle A -> B -> A's mean L1 (pixels in [0, 1]) says how
much content survived.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from translate.data.augment import random_view, resize_shorter
from translate.data.convert import to_tensor
from translate.data.folders import to_pil
from translate.data.io import list_images, read_image, write_image
from translate.inference import Translator

CROP = 64
SHORTER_SIDE = 256  # images are compared at this scale, where brush strokes are a few pixels wide


class DomainClassifier(nn.Module):
    """(N, 3, 64, 64) in [-1, 1] -> logits (N, 2): 0 = domain A, 1 = domain B."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = 3
        for out in (16, 32, 64, 64):
            layers += [nn.Conv2d(width, out, 3, stride=2, padding=1), nn.BatchNorm2d(out), nn.ReLU(True)]
            width = out
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def crops(images: list[Image.Image], n: int, rng: np.random.Generator) -> torch.Tensor:
    """n random CROP x CROP views (flips included) of images scaled to SHORTER_SIDE, (n, 3, 64, 64) in [-1, 1]."""
    scaled = [resize_shorter(im, SHORTER_SIDE) for im in images]
    views = [random_view(scaled[int(rng.integers(len(scaled)))], rng, CROP, SHORTER_SIDE, 1.25) for _ in range(n)]
    return torch.stack([to_tensor(v, (-1.0, 1.0)) for v in views])


def load_folder(folder: str | Path) -> list[Image.Image]:
    return load_images(list_images(folder))


def load_images(paths: list[Path]) -> list[Image.Image]:
    return [to_pil(read_image(p).pixels) for p in paths]


def train_classifier(domain_a: list[Image.Image], domain_b: list[Image.Image], steps: int = 400,
                     seed: int = 0) -> DomainClassifier:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = DomainClassifier()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    labels = torch.cat([torch.zeros(16, dtype=torch.long), torch.ones(16, dtype=torch.long)])
    for _ in range(steps):
        batch = torch.cat([crops(domain_a, 16, rng), crops(domain_b, 16, rng)])
        loss = F.cross_entropy(net(batch), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@dataclass(frozen=True)
class TranslationScore:
    images: int
    translated_called_b: float
    originals_called_b: float
    cycle_l1: float | None


@torch.no_grad()
def score(classifier: DomainClassifier, forward: Translator, backward: Translator | None,
          test: list[Image.Image], crops_per_image: int = 32, seed: int = 1) -> TranslationScore:
    rng = np.random.default_rng(seed)
    called_b, originals_b, cycle = [], [], []
    for image in test:
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        translated = forward(pixels)
        for source, sink in ((translated, called_b), (pixels, originals_b)):
            views = crops([to_pil(source)], crops_per_image, rng)
            sink.append(float((classifier(views).argmax(1) == 1).float().mean()))
        if backward is not None:
            cycle.append(float(np.abs(backward(translated) - pixels).mean()))
    return TranslationScore(len(test), float(np.mean(called_b)), float(np.mean(originals_b)),
                            float(np.mean(cycle)) if cycle else None)


def write_pairs_grid(translators: list[Translator], images: list[Image.Image], path: str) -> None:
    """Rows of input | each translator's output (several translators: models side by side on the same
    images), each image scaled to 256 pixels high."""
    rows = []
    for image in images:
        w, h = image.size
        small = image.resize((round(w * 256 / h), 256))
        pixels = np.asarray(small, dtype=np.float32) / 255.0
        gap = np.ones((256, 4, 3), np.float32)
        rows.append(np.concatenate([pixels, *(part for t in translators for part in (gap, t(pixels)))], axis=1))
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=1.0) for r in rows]
    write_image(path, np.concatenate(padded, axis=0))
