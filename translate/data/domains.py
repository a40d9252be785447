"""Unpaired translation data: one folder per domain, items drawn unaligned (CycleGAN, CUT)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from translate.data.convert import to_tensor
from translate.data.folders import BadFiles, split_off_last, to_pil
from translate.data.io import list_images, read_image
from translate.errors import ConfigError


class Domain:
    """The images of one translation domain, decoded lazily and kept in memory when the set is small; bad
    files are skipped as :class:`BadFiles` says."""

    CACHE_LIMIT = 256  # files; larger sets are decoded on every access

    def __init__(self, root: str | Path, max_bad: float = 0.1, hold_out: int = 0) -> None:
        self.root = Path(root)
        self.name = self.root.name
        self.files, self.held_out = split_off_last(list_images(self.root), hold_out, self.root)
        self.bad_files = BadFiles(self.root, len(self.files), max_bad, keep=len(self.files) <= self.CACHE_LIMIT)
        if self.bad_files.keep:  # small sets: decode now, so bad files surface before training
            for i in range(len(self.files)):
                self.image(i)

    def __len__(self) -> int:
        return len(self.files)

    def image(self, index: int, rng: np.random.Generator | None = None):
        """The Pillow RGB image of file `index`, or of another file when that one is bad."""
        return self.bad_files.fetch(index, lambda i: to_pil(read_image(self.files[i]).pixels), rng)


class UnalignedPairs(Dataset):
    """Items {"A": (3, crop, crop), "B": (3, crop, crop)} in [-1, 1] from two unpaired domains.

    A cycles through domain A; B is a random image of domain B (unaligned, as CycleGAN). An epoch has
    max(len A, len B, min_items) items, so a domain of one painting still yields varied random views.
    """

    def __init__(self, domain_a: Domain, domain_b: Domain, crop: int, load_size: int, scale_jitter: float = 1.0,
                 flip: bool = True, min_items: int = 200) -> None:
        if load_size < crop:
            raise ConfigError(f"load_size {load_size} must be at least the crop {crop}")
        self.a, self.b = domain_a, domain_b
        self.crop, self.load_size, self.scale_jitter, self.flip = crop, load_size, scale_jitter, flip
        self.length = max(len(domain_a), len(domain_b), min_items)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: tuple[int, int]) -> dict:
        from translate.data.augment import random_view

        index, seed = key
        rng = np.random.default_rng(seed)
        views = {}
        for name, domain, i in (("A", self.a, index % len(self.a)), ("B", self.b, int(rng.integers(len(self.b))))):
            view = random_view(domain.image(i, rng), rng, self.crop, self.load_size, self.scale_jitter, self.flip)
            views[name] = to_tensor(view, (-1.0, 1.0))
        return views
