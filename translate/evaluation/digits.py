"""Offline measures for digit generators, in the feature space of a small classifier trained here.

No Inception network can be downloaded on our machines, so generators of the bundled UCI digits are
judged by a CNN trained on the real digits (fixed 80/20 split, seeded, a few seconds on a CPU): class
coverage, entropy of the predicted class histogram, mean confidence, agreement with requested labels,
a Frechet distance between classifier features of generated and held-out real digits, and k-NN
precision/recall (Kynkaanniemi et al. 2019) in the same space.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from translate.data.digits import load_digits
from translate.data.folders import samples_dir

SIZE = 16
CLASSIFIER_VERSION = 2


class DigitClassifier(nn.Module):
    """(N, 1, 16, 16) in [-1, 1] -> (class logits (N, 10), features (N, 64))."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 16, 64), nn.ReLU(),
        )
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return self.head(features), features


@dataclass
class Reference:
    classifier: DigitClassifier
    test_accuracy: float
    test_images: torch.Tensor
    test_labels: torch.Tensor
    train_images: torch.Tensor
    """The classifier's training split: real digits that are not the held-out ones, measured against them
    to show what a generator that draws real digits would score (a set measured against itself would give
    FID 0 and precision and recall 1)."""
    train_labels: torch.Tensor


def digits_file() -> Path:
    return samples_dir() / "digits" / "digits.csv.gz"


def split(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train images, train labels, test images, test labels): a fixed 80/20 split of the bundled digits."""
    data = load_digits(digits_file(), SIZE)
    order = torch.randperm(len(data.images), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(order))
    train, test = order[:cut], order[cut:]
    return data.images[train], data.labels[train], data.images[test], data.labels[test]


def reference(cache_dir: Path | None = None) -> Reference:
    """The trained classifier and held-out digits; the weights are cached (safetensors) after first use."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    from translate.checkpoint import atomic_write

    train_x, train_y, test_x, test_y = split()
    key = hashlib.sha256(digits_file().read_bytes() + str(CLASSIFIER_VERSION).encode()).hexdigest()[:16]
    cache = (cache_dir or Path.home() / ".cache" / "gan-translate") / f"digits-classifier-{key}.safetensors"
    with torch.random.fork_rng(devices=[]):  # the initial weights too are fixed, whatever ran before
        torch.manual_seed(0)
        net = DigitClassifier()
    try:
        net.load_state_dict(load_file(cache))
    except (OSError, RuntimeError, SafetensorError):  # missing, or damaged by a run killed mid-write: retrain
        _train(net, train_x, train_y)
        atomic_write(cache, lambda tmp: save_file(net.state_dict(), tmp))
    net.eval()
    with torch.no_grad():
        accuracy = (net(test_x)[0].argmax(1) == test_y).float().mean().item()
    return Reference(net, accuracy, test_x, test_y, train_x, train_y)


def _train(net: DigitClassifier, x: torch.Tensor, y: torch.Tensor, epochs: int = 15) -> None:
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    net.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(64):
            # small random shifts make the classifier judge shapes, not exact pixel positions
            shift = torch.randint(-1, 2, (2,), generator=generator).tolist()
            images = torch.roll(x[batch], shifts=shift, dims=(2, 3))
            loss = F.cross_entropy(net(images)[0], y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to feature sets a (N, D) and b (M, D)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # trace of sqrt(cov_a cov_b) from the eigenvalues of sqrt(cov_a) cov_b sqrt(cov_a), which is symmetric
    vals, vecs = np.linalg.eigh(cov_a)
    root_a = (vecs * np.sqrt(vals.clip(min=0))) @ vecs.T
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a).clip(min=0)
    distance = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.sqrt(cross).sum()
    return max(0.0, float(distance))  # rounding can leave identical sets a hair below 0


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019): a sample counts as covered when it lies
    inside the k-nearest-neighbour ball of some sample of the other set."""

    def radii(x: np.ndarray) -> np.ndarray:
        d = torch.cdist(torch.from_numpy(x), torch.from_numpy(x))
        return d.kthvalue(k + 1, dim=1).values.numpy()  # k+1: the nearest is the point itself

    def covered(points: np.ndarray, support: np.ndarray, support_radii: np.ndarray) -> float:
        d = torch.cdist(torch.from_numpy(points), torch.from_numpy(support)).numpy()
        return float((d <= support_radii[None, :]).any(axis=1).mean())

    return covered(fake, real, radii(real)), covered(real, fake, radii(fake))


def measure(images: torch.Tensor, ref: Reference, requested: torch.Tensor | None = None) -> dict[str, float]:
    """Measures of generated digits (N, 1, S, S) in [0, 1] against the held-out real digits."""
    x = images.float()
    if x.shape[-1] != SIZE:
        x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        logits, features = ref.classifier(x * 2 - 1)
        _, real_features = ref.classifier(ref.test_images)
    probs = logits.softmax(1)
    predicted = probs.argmax(1)
    histogram = torch.bincount(predicted, minlength=10).float() / len(predicted)
    entropy = max(0.0, -sum(p * math.log(p) for p in histogram.tolist() if p > 0))  # no "-0.000"
    fake_f, real_f = features.double().numpy(), real_features.double().numpy()
    precision, recall = precision_recall(real_f, fake_f)
    result = {
        "classes_covered": int((histogram > 0).sum()),
        "class_entropy": entropy,
        "mean_confidence": probs.max(1).values.mean().item(),
        "classifier_fid": frechet_distance(fake_f, real_f),
        "precision": precision,
        "recall": recall,
    }
    if requested is not None:
        result["label_agreement"] = (predicted == requested.to(predicted.device)).float().mean().item()
    return result
