"""FID, KID and IS with the standard Inception-v3 weights, computed by torch-fidelity.

The weights are never downloaded: the user passes a local copy of the pt_inception-2015-12-05 file.
torch-fidelity reads a weights file with ``torch.load(..., weights_only=False)``, which runs any code a
pickle carries, so the user's file is first read here with a loader that only accepts tensors
(``weights_only=True``, or safetensors), and the library is handed a private temporary file holding
just those tensors.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from translate.errors import ConfigError, ModelFileError
from translate.foreign_weights import read_weights

WEIGHTS_URLS = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
)
KID_SUBSET_SIZE = 1000  # torch-fidelity's default; smaller sets use all their images per subset
IS_SPLITS = 10


@dataclass(frozen=True)
class InceptionScores:
    """FID and KID of generated against real images; IS of the generated images alone."""

    fid: float
    kid_mean: float
    kid_std: float
    is_mean: float
    is_std: float


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, read without running any code it may carry."""
    if not path.exists():
        raise ModelFileError(
            f"{path}: no such file; FID/KID/IS need the standard Inception-v3 weights (pt_inception-2015-12-05): "
            f"download {WEIGHTS_URLS[0]} (or the same file from {WEIGHTS_URLS[1]}) and pass its path"
        )
    return read_weights(path)


def load_inception(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """torch-fidelity's Inception-v3 feature extractor with the weights in `path`, in eval mode on `device`.

    Its forward takes uint8 (N, 3, H, W) images and returns (2048-d pool features, unbiased logits).
    Raises ModelFileError naming the file for a missing file, a file that is not plain tensors, or
    tensors that are not the Inception-v3 weights (the library's strict load_state_dict checks keys and shapes).
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    path = Path(path)
    state = _read_tensors(path)
    with tempfile.TemporaryDirectory() as folder:  # private (mode 0700) and removed afterwards
        plain = Path(folder) / "inception.pth"
        torch.save(state, plain)
        try:
            net = FeatureExtractorInceptionV3(
                "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(plain)
            )
        except RuntimeError as err:
            raise ModelFileError(
                f"{path}: not the Inception-v3 weights torch-fidelity expects ({_load_problem(err)})"
            ) from None
    return net.to(device)


def _load_problem(err: RuntimeError, limit: int = 160) -> str:
    """The first detail of a load_state_dict error, cut at an entry boundary (the whole can list 566 keys)."""
    # its first line only says "Error(s) in loading state_dict for ..."; the next names the keys or shapes
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    detail = lines[1] if len(lines) > 1 else lines[0] if lines else type(err).__name__
    return detail if len(detail) <= limit else detail[:limit].rsplit(", ", 1)[0] + ", ..."


def _as_uint8_rgb(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats -> the uint8 RGB the extractor takes (the reference FID is defined on 8-bit images)."""
    x = (images.float().clamp(0, 1) * 255).round().to(torch.uint8)
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


def _check_images(name: str, images: torch.Tensor) -> None:
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ConfigError(f"{name} images: expected (N, 1 or 3, H, W), got shape {tuple(images.shape)}")
    if len(images) < 2:
        raise ConfigError(f"{name} images: FID/KID/IS need at least 2 images, got {len(images)}")


def _features(net: nn.Module, images: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(pool features (N, 2048), unbiased logits (N, 1008)) on the CPU, `batch_size` images per forward pass."""
    device = next(net.parameters()).device
    pools, logits = [], []
    with torch.no_grad():
        for batch in images.split(batch_size):
            pool, logit = net(_as_uint8_rgb(batch).to(device))
            pools.append(pool.cpu())
            logits.append(logit.cpu())
    return torch.cat(pools), torch.cat(logits)


def inception_scores(
    weights: str | Path | nn.Module,
    real: torch.Tensor,
    generated: torch.Tensor,
    device: str | torch.device = "cpu",
    batch_size: int = 32,
) -> InceptionScores:
    """FID, KID (mean, std over subsets) and IS (mean, std over splits) of `generated` against `real`.

    weights: the Inception-v3 weights file, or a network from load_inception (load it once, and early,
        so that a bad file is reported before any slow work); `device` applies to a file.
    real, generated: float (N, C, H, W) in [0, 1] with C 1 (repeated to RGB) or 3; any H, W (the
        network resizes to 299x299). Few images give noisy, biased figures: FID is usually quoted for 50k.
    """
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    _check_images("real", real)
    _check_images("generated", generated)
    net = weights if isinstance(weights, nn.Module) else load_inception(weights, device)
    real_pool, _ = _features(net, real, batch_size)
    fake_pool, fake_logits = _features(net, generated, batch_size)
    fid = fid_statistics_to_metric(fid_features_to_statistics(fake_pool), fid_features_to_statistics(real_pool),
                                   verbose=False)[KEY_METRIC_FID]
    kid = kid_features_to_metric(fake_pool, real_pool, verbose=False,
                                 kid_subset_size=min(KID_SUBSET_SIZE, len(real), len(generated)))
    # a split of one image always scores exactly 1, so small sets get fewer splits of at least 10 images
    inception = isc_features_to_metric(fake_logits, splits=max(1, min(IS_SPLITS, len(generated) // 10)))
    return InceptionScores(
        fid=max(0.0, fid),  # rounding can leave identical sets a hair below 0
        kid_mean=kid[KEY_METRIC_KID_MEAN],
        kid_std=kid[KEY_METRIC_KID_STD],
        is_mean=inception[KEY_METRIC_ISC_MEAN],
        is_std=inception[KEY_METRIC_ISC_STD],
    )
