"""Tiny model files for tests."""

from pathlib import Path

import torch

from translate.checkpoint import ModelSpec, save_model
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
