"""Paired translation data (pix2pix): side-by-side A|B images, or matching names under A/ and B/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from translate.data.convert import to_tensor
from translate.data.folders import BadFiles, to_pil
from translate.data.io import list_images, read_image, read_size
from translate.errors import ConfigError


def find_pairs(root: str | Path) -> list[tuple[Path, Path | None]]:
    """Paired images under `root`: twin folders A/ and B/ with matching file names, or side-by-side A|B
    images (the public pix2pix sets). Returns (A file, B file) or (AB file, None) items."""
    root = Path(root)
    if (root / "train").is_dir() and not (root / "A").is_dir():
        raise ConfigError(f"{root}: holds a train/ folder (a public set's root, with val/ and test/ beside it); "
                          f"pass --data {root / 'train'}")
    twins = {p.name.upper(): p for p in root.iterdir() if p.is_dir() and p.name.upper() in ("A", "B")} \
        if root.is_dir() else {}
    if len(twins) == 1:
        (only,) = twins.values()
        raise ConfigError(f"{root}: has {only.name}/ but no {'B' if only.name.upper() == 'A' else 'A'}/ beside it; "
                          "twin folders need both (or put side-by-side A|B images in a folder of their own)")
    if twins:
        a_by_stem, b_by_stem = _by_stem(twins["A"]), _by_stem(twins["B"])
        for stem in a_by_stem.keys() ^ b_by_stem.keys():
            lone, other = (a_by_stem[stem], twins["B"]) if stem in a_by_stem else (b_by_stem[stem], twins["A"])
            raise ConfigError(f"{lone}: has no twin in {other} (twin files share their name)")
        return [(a_by_stem[stem], b_by_stem[stem]) for stem in sorted(a_by_stem)]
    return [(p, None) for p in list_images(root)]


def _by_stem(folder: Path) -> dict[Path, Path]:
    """{relative path without suffix: file} of the images in `folder`; two files of one name are an error."""
    files: dict[Path, Path] = {}
    for path in list_images(folder):
        stem = path.relative_to(folder).with_suffix("")
        if stem in files:
            raise ConfigError(f"{path}: {files[stem].name} has the same name; a twin folder needs one file per name")
        files[stem] = path
    return files


class AlignedPairs(Dataset):
    """Items {"A": (3, crop, crop), "B": (3, crop, crop)} in [-1, 1], both halves given the same random
    resize-crop and flip (pix2pix's jitter). `direction` BtoA swaps what is called A and B."""

    CACHE_LIMIT = 256  # pairs; larger sets are decoded on every access

    def __init__(self, root: str | Path, crop: int, load_size: int, flip: bool = True, direction: str = "AtoB",
                 min_items: int = 0) -> None:
        if load_size < crop:
            raise ConfigError(f"load_size {load_size} must be at least the crop {crop}")
        self.pairs = find_pairs(root)
        self.crop, self.load_size, self.flip, self.swap = crop, load_size, flip, direction == "BtoA"
        self.bad_files = BadFiles(Path(root), len(self.pairs), keep=len(self.pairs) <= self.CACHE_LIMIT)
        if self.bad_files.keep:  # small sets: decode now, so bad files surface before training
            for i in range(len(self.pairs)):
                self.pair(i)
        else:  # decoded on every access; check what the headers can tell now, not hours into training
            for i, files in enumerate(self.pairs):
                sizes = [self.bad_files.check(i, lambda _, p=p: read_size(p)) for p in files if p is not None]
                if None not in sizes:
                    self._check_sizes(i, *sizes)
        self.length = max(len(self.pairs), min_items)

    def _check_sizes(self, index: int, a_size: tuple[int, int], b_size: tuple[int, int] | None = None) -> None:
        a_path, b_path = self.pairs[index]
        if b_size is None and a_size[0] % 2:
            raise ConfigError(f"{a_path}: an A|B pair must have an even width, got {a_size[0]}")
        if b_size is not None and a_size != b_size:
            raise ConfigError(f"{a_path}: {a_size[0]}x{a_size[1]} but its twin {b_path.name} is "
                              f"{b_size[0]}x{b_size[1]}; the halves of a pair must match")

    def pair(self, index: int, rng: np.random.Generator | None = None):
        """The (A, B) Pillow images of pair `index`, or of another pair when a file of that one is bad."""
        return self.bad_files.fetch(index, self._load, rng)

    def _load(self, index: int):
        a_path, b_path = self.pairs[index]
        if b_path is None:
            whole = read_image(a_path)
            self._check_sizes(index, whole.size)
            w = whole.size[0]
            a, b = whole.pixels[:, : w // 2], whole.pixels[:, w // 2:]
        else:
            a, b = read_image(a_path), read_image(b_path)
            self._check_sizes(index, a.size, b.size)
            a, b = a.pixels, b.pixels
        return (to_pil(b), to_pil(a)) if self.swap else (to_pil(a), to_pil(b))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: tuple[int, int]) -> dict:
        from translate.data.augment import random_view

        index, seed = key
        a, b = self.pair(index % len(self.pairs), np.random.default_rng([seed, 1]))
        views = {}
        for name, image in (("A", a), ("B", b)):
            rng = np.random.default_rng(seed)  # the same draws for both halves: aligned crops and flips
            views[name] = to_tensor(random_view(image, rng, self.crop, self.load_size, 1.0, self.flip), (-1.0, 1.0))
        return views
