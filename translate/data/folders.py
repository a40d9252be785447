"""Image-folder datasets and what every dataset of image files shares: the bad-file policy, the held-out
split, the bundled samples' folder. The other layouts have their own modules (digits, sr_patches, domains,
pairs). Items are fetched by (index, seed) keys from SeededSampler, so any randomness in an item comes from its
own seed and a resumed run sees exactly the same data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from torch.utils.data import Dataset

from translate.data.augment import centre_view
from translate.data.convert import to_tensor
from translate.data.digits import load_digits
from translate.data.io import list_images, read_image
from translate.errors import ConfigError, ImageError

T = TypeVar("T")


def samples_dir() -> Path:
    """datasets/samples/ of a source checkout (where the bundled real samples live)."""
    return Path(__file__).resolve().parents[2] / "datasets" / "samples"




class BadFiles:
    """The policy for files that fail to decode, shared by every dataset of image files: each is skipped
    with a warning naming it and another file is used instead; once more than `max_bad` of the `count`
    files (and more than one) are bad, training stops with an error instead of quietly learning from
    what is left. With `keep`, what loaded is kept in memory (small sets, decoded once)."""

    def __init__(self, root: Path, count: int, max_bad: float = 0.1, keep: bool = False) -> None:
        self.root, self.count, self.max_bad, self.keep = root, count, max_bad, keep
        self.bad: set[int] = set()
        self.kept: dict[int, object] = {}

    def check(self, index: int, load: Callable[[int], T]) -> T | None:
        """load(index), or None when that raises ImageError: the file is then counted bad, with a warning."""
        try:
            return load(index)
        except ImageError as err:
            self.bad.add(index)
            print(f"warning: skipping {err}", flush=True)
            if len(self.bad) > max(1.0, self.max_bad * self.count):
                raise ConfigError(f"{self.root}: {len(self.bad)} of {self.count} images are unreadable "
                                  f"(more than {self.max_bad:.0%}); fix or remove them") from None
            return None

    def fetch(self, index: int, load: Callable[[int], T], rng: np.random.Generator | None = None) -> T:
        """load(index), or load() of another file when that one is bad: a random one given `rng`, else the
        next one."""
        while True:
            if index in self.kept:
                return self.kept[index]
            if index not in self.bad:
                value = self.check(index, load)
                if value is not None:
                    if self.keep:
                        self.kept[index] = value
                    return value
            good = [i for i in range(self.count) if i not in self.bad]
            if not good:
                raise ConfigError(f"{self.root}: no readable images")
            index = good[int(rng.integers(len(good)))] if rng is not None else min(
                (i for i in good if i > index), default=good[0])


class ImageFolder(Dataset):
    """Images under a folder, resized and centre-cropped to `image_size`; class sub-folders give labels.

    Items {"image": (channels, S, S) in [-1, 1], "label": int} (label 0 when there are no classes).
    """

    def __init__(self, root: str | Path, image_size: int, channels: int = 3) -> None:
        root = Path(root)
        self.files = list_images(root)
        classes = sorted({p.relative_to(root).parts[0] for p in self.files if len(p.relative_to(root).parts) > 1})
        loose = [p for p in self.files if len(p.relative_to(root).parts) == 1]
        if classes and loose:
            raise ConfigError(f"{root}: mixes images at the top with class sub-folders; use one layout")
        self.class_names = tuple(classes)
        index = {name: i for i, name in enumerate(classes)}
        self.labels = [index[p.relative_to(root).parts[0]] if classes else 0 for p in self.files]
        self.image_size, self.channels = image_size, channels
        self.bad_files = BadFiles(root, len(self.files))

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        return self.bad_files.fetch(index, self._item, np.random.default_rng(seed))

    def _item(self, index: int) -> dict:
        decoded = read_image(self.files[index], mode="L" if self.channels == 1 else "RGB")
        view = centre_view(to_pil(decoded.pixels), self.image_size, self.image_size)
        return {"image": to_tensor(view, (-1.0, 1.0)), "label": self.labels[index]}


def open_image_source(source: str, image_size: int, channels: int) -> Dataset:
    """"digits" (the bundled sample), a digits-format .csv(.gz) file, or an image folder."""
    if source == "digits":
        return load_digits(samples_dir() / "digits" / "digits.csv.gz", image_size)
    path = Path(source)
    if path.suffix in (".csv", ".gz"):
        return load_digits(path, image_size)
    if not path.is_dir():
        raise ConfigError(f"{source}: not a folder of images, a digits .csv(.gz) file, or 'digits'")
    return ImageFolder(path, image_size, channels)



def to_pil(pixels: np.ndarray):
    """Float pixels in [0, 1] -> an 8-bit Pillow image (for fast resizing and cropping)."""
    from PIL import Image

    return Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8))


def split_off_last(files: list[Path], count: int, root: Path) -> tuple[list[Path], list[Path]]:
    """(kept, held out): the last `count` files by sorted name are held out as a test set."""
    if count < 0 or count >= len(files):
        raise ConfigError(f"{root}: cannot hold out {count} of its {len(files)} images (0 <= N < {len(files)})")
    return (files[:-count], files[-count:]) if count else (files, [])
