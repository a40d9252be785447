"""Datasets the recipes train on. Items are fetched by (index, seed) keys from SeededSampler, so any
randomness in an item comes from its own seed and a resumed run sees exactly the same data."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from translate.data.augment import centre_view
from translate.data.convert import to_tensor
from translate.data.io import list_images, read_image, read_size
from translate.errors import ConfigError, ImageError

T = TypeVar("T")


def samples_dir() -> Path:
    """datasets/samples/ of a source checkout (where the bundled real samples live)."""
    return Path(__file__).resolve().parents[2] / "datasets" / "samples"


class TensorImages(Dataset):
    """Images already in memory: items {"image": (C, S, S) in [-1, 1], "label": int}."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...]) -> None:
        self.images, self.labels, self.class_names = images, labels, class_names

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, _ = key
        return {"image": self.images[index], "label": int(self.labels[index])}


def load_digits(path: str | Path, image_size: int) -> TensorImages:
    """The UCI handwritten digits CSV (64 pixel values 0..16 then the label per row), upscaled to
    `image_size` with bilinear interpolation, values mapped to [-1, 1]."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: digits file not found (the bundled copy is datasets/samples/digits/digits.csv.gz)")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: not a digits CSV ({str(err).splitlines()[0]})") from None
    if table.ndim != 2 or table.shape[1] != 65:
        raise ConfigError(f"{path}: expected 65 columns (8x8 pixels + label), got shape {table.shape}")
    pixels = torch.from_numpy(table[:, :64] / 16.0).view(-1, 1, 8, 8)
    if image_size != 8:
        pixels = F.interpolate(pixels, size=(image_size, image_size), mode="bilinear", align_corners=False)
    images = pixels.clamp(0, 1) * 2 - 1
    return TensorImages(images, torch.from_numpy(table[:, 64].astype(np.int64)), tuple(str(i) for i in range(10)))


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


class SRPatches(Dataset):
    """Random HR crops from a folder of HR images, with LR made on the fly by bicubic downscaling
    (`degradation` "bicubic"), or by blur, downscaling, noise and JPEG ("realistic", see data/degrade.py).

    All HR images are decoded once and kept in memory as 8-bit arrays. Items: {"lr": (3, crop/scale,
    crop/scale), "hr": (3, crop, crop)}, both in [0, 1]; the LR is rounded to 8 bits like benchmark LR
    files. Each item draws its crop, flips and 90-degree turn from its own seed. One epoch is
    `patches_per_image` items per image. Images smaller than the crop are upscaled to fit (with a note).

    `root` is one folder or several (the "291" set is T91 + BSD200). `scale_jitter` s < 1 first shrinks
    the HR image by a random factor in [s, 1] (as VDSR augments the 291 set with scales 0.6 to 1): a crop
    of crop / factor pixels is resized to the crop, so the net sees structures at several sizes.
    """

    def __init__(self, root: str | Path | Sequence[str | Path], scale: int, crop: int, patches_per_image: int = 100,
                 degradation: str = "bicubic", scale_jitter: float = 1.0) -> None:
        from translate.data.degrade import Degrader
        from translate.data.resize import bicubic_resize

        if crop % scale:
            raise ConfigError(f"crop {crop} must be a multiple of scale {scale}")
        if not 0.0 < scale_jitter <= 1.0:
            raise ConfigError(f"scale_jitter must be in (0, 1], got {scale_jitter}")
        roots = [root] if isinstance(root, str | Path) else list(root)
        self.files = [path for folder in roots for path in list_images(folder)]
        self.scale, self.crop, self.patches_per_image = scale, crop, patches_per_image
        self.scale_jitter = scale_jitter
        self.degrade = Degrader(scale, degradation)
        self.images: list[np.ndarray] = []
        for path in self.files:
            pixels = read_image(path).pixels
            h, w = pixels.shape[:2]
            if min(h, w) < crop:
                factor = crop / min(h, w)
                size = (max(crop, round(w * factor)), max(crop, round(h * factor)))
                print(f"note: {path} is {w}x{h}, smaller than the {crop} crop; upscaled to {size[0]}x{size[1]}")
                pixels = bicubic_resize(pixels, size)
            self.images.append(np.round(pixels * 255).astype(np.uint8))

    def __len__(self) -> int:
        return len(self.images) * self.patches_per_image

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        rng = np.random.default_rng(seed)
        image = self.images[index % len(self.images)]
        h, w = image.shape[:2]
        size = self.crop
        if self.scale_jitter < 1.0:
            size = min(h, w, round(self.crop / rng.uniform(self.scale_jitter, 1.0)))
        top, left = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        hr = image[top:top + size, left:left + size]
        if size != self.crop:
            from PIL import Image

            hr = np.asarray(Image.fromarray(hr).resize((self.crop, self.crop), Image.Resampling.BICUBIC))
        if rng.random() < 0.5:
            hr = hr[:, ::-1]
        hr = np.rot90(hr, k=int(rng.integers(0, 4)))
        lr = self.degrade(hr, seed)
        return {"lr": to_tensor(lr, (0.0, 1.0)), "hr": to_tensor(hr.astype(np.float32) / 255.0, (0.0, 1.0))}


def to_pil(pixels: np.ndarray):
    """Float pixels in [0, 1] -> an 8-bit Pillow image (for fast resizing and cropping)."""
    from PIL import Image

    return Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8))


def split_off_last(files: list[Path], count: int, root: Path) -> tuple[list[Path], list[Path]]:
    """(kept, held out): the last `count` files by sorted name are held out as a test set."""
    if count < 0 or count >= len(files):
        raise ConfigError(f"{root}: cannot hold out {count} of its {len(files)} images (0 <= N < {len(files)})")
    return (files[:-count], files[-count:]) if count else (files, [])


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
