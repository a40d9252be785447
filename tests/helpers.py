"""Tiny model files for tests."""

from pathlib import Path

import torch

from translate.checkpoint import save_model
from translate.model_spec import ModelSpec
from translate.nets import GENERATORS


def tiny_translator(path: Path, domains=("photos", "paintings"), seed: int = 0) -> Path:
    torch.manual_seed(seed)
    kwargs = {"ngf": 4, "n_blocks": 1, "upsample": "resize"}
    spec = ModelSpec(task="translation", arch="resnet", arch_kwargs=kwargs, in_channels=3, out_channels=3,
                     size_multiple=4, domains=domains)
    return save_model(path, GENERATORS["resnet"](**kwargs), spec)


def tiny_sr(path: Path, scale: int = 2) -> Path:
    torch.manual_seed(0)
    kwargs = {"scale": scale, "n_blocks": 1, "channels": 8}
    spec = ModelSpec(task="super-resolution", arch="srresnet", arch_kwargs=kwargs, in_channels=3, out_channels=3,
                     value_range=(0.0, 1.0), scale=scale)
    return save_model(path, GENERATORS["srresnet"](**kwargs), spec)


def tiny_generator(path: Path, labels=None) -> Path:
    torch.manual_seed(0)
    kwargs = {"latent_dim": 8, "image_size": 16, "channels": 1, "ngf": 8, "n_classes": len(labels or ())}
    spec = ModelSpec(task="generation", arch="dcgan", arch_kwargs=kwargs, in_channels=8, out_channels=1,
                     latent_dim=8, image_size=16, labels=labels)
    return save_model(path, GENERATORS["dcgan"](**kwargs).eval(), spec)


def swapped_primaries_profile() -> bytes:
    """An ICC profile: sRGB with its red and green primaries exchanged, so a pure red pixel tagged with it is
    green on screen (and in sRGB)."""
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    count = int.from_bytes(srgb[128:132], "big")
    table = {srgb[132 + 12 * i:136 + 12 * i]: 132 + 12 * i for i in range(count)}
    swapped = bytearray(srgb)
    r, g = table[b"rXYZ"], table[b"gXYZ"]
    swapped[r + 4:r + 12], swapped[g + 4:g + 12] = srgb[g + 4:g + 12], srgb[r + 4:r + 12]
    return bytes(swapped)
