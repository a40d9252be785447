"""Reading and writing image files: the one place in the project that opens them.

Every decode goes through :func:`read_image`, which turns any common file (8/16-bit, grayscale,
palette, CMYK, with or without alpha, any EXIF orientation) into float32 pixels in [0, 1], and turns
every way a file can be bad into one :class:`~translate.errors.ImageError` naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from translate.data.convert import to_gray
from translate.data.png import to_8bit, write_png
from translate.errors import ImageError

DEFAULT_MAX_PIXELS = 80_000_000
"""Refuse images with more pixels than this (about 9000 x 9000): a decompression-bomb guard.
Pillow's own guard warns at 89 MP, so ours fires first with a clearer message."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm", ".tga")
WRITE_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}
_MAX_WRITE_SIDE = {"JPEG": 65500, "WEBP": 16383}  # the formats' own limits

FAST_PNG_PIXELS = 4_000_000
"""From this many pixels on, 8-bit PNGs are encoded in strips on every core (translate.data.png) and at zlib
level 1 unless a level is given: level 6 takes several times longer (benchmarks/png_write.py) for files about a
quarter smaller."""
FAST_PNG_LEVEL = 1
PNG_LEVELS = range(10)

_EXIF_ORIENTATION = 0x0112
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class DecodedImage:
    """A decoded image.

    pixels: float32 (H, W, 3) for mode "RGB" or (H, W) for mode "L", values in [0, 1].
    alpha: float32 (H, W) in [0, 1] when the file had transparency and the caller asked to keep it,
        else None (transparency is then composited on white).
    grayscale: the file itself was single-channel (so a caller can give back a gray-looking result).
    bit_depth: 8 or 16, the precision of the file's samples.
    frames: how many frames the file holds (animated GIF/PNG/WebP, multi-page TIFF); pixels are the first.
    """

    path: Path
    pixels: np.ndarray
    alpha: np.ndarray | None
    grayscale: bool
    bit_depth: int
    frames: int = 1

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.pixels.shape[1], self.pixels.shape[0]


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Image files under `folder`, sorted; raises ImageError if it is missing, not a folder or has none."""
    folder = Path(folder)
    if not folder.exists():
        raise ImageError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise ImageError(f"{folder}: not a folder")
    pattern = "**/*" if recursive else "*"
    # hidden files and folders (.ipynb_checkpoints, .thumbs) are tool clutter, not data
    files = sorted(p for p in folder.glob(pattern)
                   if is_image_file(p) and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise ImageError(f"{folder}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
    return files


@contextlib.contextmanager
def _decoding(path: Path) -> Iterator[None]:
    """Turn every way Pillow can fail on `path` into one ImageError naming the file."""
    try:
        yield
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path}: too many pixels (decompression-bomb guard); downscale it first") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file, or a format Pillow cannot read") from None
    except (OSError, SyntaxError, ValueError, struct.error, EOFError, IndexError) as err:
        problem = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ImageError(f"{path}: corrupt or truncated image ({problem})") from None


def read_image(
    path: str | Path,
    mode: str = "RGB",
    keep_alpha: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> DecodedImage:
    """Decode an image file into float32 pixels in [0, 1].

    mode: "RGB" gives (H, W, 3), "L" gives (H, W) (ITU-R 601 luma for colour files).
    keep_alpha: return transparency separately instead of compositing it on white.
    Raises ImageError (message "PATH: problem") for a missing, empty, truncated, corrupt, non-image,
    too large or unsupported file.
    """
    path = Path(path)
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
    _check_regular_file(path)
    with _decoding(path), warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        # Pillow warns about damaged EXIF blocks and reads what it can; the orientation is then the default,
        # and its warning lines would only clutter the one-line-per-file output
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        with Image.open(path) as im:
            frames = max(1, int(getattr(im, "n_frames", 1)))
            width, height = im.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{path}: {width}x{height} is {width * height / 1e6:.3g} MP, over the limit of "
                    f"{max_pixels / 1e6:.3g} MP; downscale it first"
                )
            if width < 1 or height < 1:
                raise ImageError(f"{path}: has no pixels ({width}x{height})")
            im.load()
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
            colour_type = _png16_colour_type(path)
            if colour_type is not None or _is_16bit_colour_tiff(im):
                rgb, alpha = _read_16bit_colour(path, orientation)
                grayscale, bit_depth = colour_type == 4, 16
            else:
                im = _to_srgb(ImageOps.exif_transpose(im))
                rgb, alpha, grayscale, bit_depth = _pil_to_arrays(im, path)

    if alpha is not None and not keep_alpha:
        rgb = rgb * alpha[..., None] + (1.0 - alpha[..., None])
        alpha = None
    if mode == "L":
        rgb = to_gray(rgb)
    return DecodedImage(path, np.ascontiguousarray(rgb, dtype=np.float32), alpha, grayscale, bit_depth, frames)


def _check_regular_file(path: Path) -> None:
    """ImageError unless `path` is a non-empty regular file (or a symlink to one), decided by stat() before
    anything opens it: opening a FIFO blocks until someone writes to it, a device can be endless."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except OSError as err:
        raise ImageError(f"{path}: cannot be read ({err.strerror or err})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{path}: is a folder, expected an image file")
    if not stat.S_ISREG(info.st_mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode)
                else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "not a regular file")
        raise ImageError(f"{path}: is {kind}, expected an image file")
    if info.st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")


def read_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as :func:`read_image` would return the image (EXIF orientation applied), read from
    the header alone: a quick check of many files before decoding them. ImageError if it has no readable
    header."""
    path = Path(path)
    _check_regular_file(path)
    with _decoding(path), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        with Image.open(path) as im:
            width, height = im.size
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _pil_to_arrays(im: Image.Image, path: Path) -> tuple[np.ndarray, np.ndarray | None, bool, int]:
    """(rgb (H, W, 3), alpha (H, W) or None, grayscale, bit depth) from a loaded Pillow image."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit grayscale (PNG/TIFF); Pillow gives "I" for some 16-bit PNGs, and for 32-bit integer TIFFs
        values = np.asarray(im, dtype=np.float64)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ImageError(f"{path}: 32-bit integer samples (beyond 0-65535) are not supported; save it as 8 "
                             "or 16-bit PNG")
        gray = (values / 65535.0).astype(np.float32)
        key = im.info.get("transparency")  # a PNG tRNS chunk: one gray value that stands for "transparent"
        alpha = (values != key).astype(np.float32) if isinstance(key, int) else None
        return np.repeat(gray[..., None], 3, axis=2), alpha, True, 16
    if im.mode == "F":
        raise ImageError(f"{path}: 32-bit float images are not supported; save it as 8 or 16-bit PNG")
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    grayscale = im.mode in ("1", "L", "LA", "La") or (im.mode == "P" and _palette_is_gray(im))
    if has_alpha:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        return rgba[..., :3], rgba[..., 3], grayscale, 8
    # convert() handles palette, CMYK, YCbCr, LAB, HSV and 1-bit images.
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0, None, grayscale, 8


def _to_srgb(im: Image.Image) -> Image.Image:
    """An RGB(A) image with an embedded colour profile (a phone's Display P3, Adobe RGB) converted to sRGB,
    the space every model here was trained in and every output is written in; images without a profile are
    taken as sRGB already."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA"):
        return im
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"), outputMode=im.mode)
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError):
        return im  # a damaged profile: the pixels are still the best guess, as in every viewer


def _is_16bit_colour_tiff(im: Image.Image) -> bool:
    """A 16-bit RGB(A) TIFF, which Pillow would reduce to 8 bits."""
    return im.format == "TIFF" and im.mode in ("RGB", "RGBA") and 16 in tuple(im.tag_v2.get(258, ()))


def _palette_is_gray(im: Image.Image) -> bool:
    palette = np.asarray(im.convert("RGB"))
    return bool(np.all(palette[..., 0] == palette[..., 1]) and np.all(palette[..., 1] == palette[..., 2]))


def _png16_colour_type(path: Path) -> int | None:
    """The PNG colour type of 16-bit RGB (2), gray + alpha (4) or RGBA (6) files, which Pillow would reduce to
    8 bits (plain 16-bit gray it reads in full); None for anything else."""
    with open(path, "rb") as f:
        head = f.read(26)
    # IHDR: signature(8) length(4) type(4) width(4) height(4) bit depth(1) colour type(1)
    if len(head) == 26 and head[:8] == _PNG_SIGNATURE and head[24] == 16 and head[25] in (2, 4, 6):
        return head[25]
    return None


def _read_16bit_colour(path: Path, orientation: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A 16-bit colour PNG or TIFF at full precision (PNG gray + alpha comes as BGRA)."""
    import cv2  # installed with albumentations; Pillow would reduce these to 8 bits

    data = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if data is None or data.dtype != np.uint16 or data.ndim != 3 or data.shape[2] not in (3, 4):
        raise ImageError(f"{path}: corrupt or unsupported 16-bit image")
    data = _apply_orientation(data.astype(np.float32) / 65535.0, orientation)
    rgb = data[..., 2::-1]  # BGR(A) -> RGB
    alpha = data[..., 3] if data.shape[2] == 4 else None
    return rgb, alpha


def _apply_orientation(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation tag (1..8) to an (H, W, ...) array, as ImageOps.exif_transpose does."""
    ops = {
        2: lambda x: x[:, ::-1],
        3: lambda x: x[::-1, ::-1],
        4: lambda x: x[::-1],
        5: lambda x: np.swapaxes(x, 0, 1),
        6: lambda x: np.rot90(x, -1),
        7: lambda x: np.rot90(x, -1)[::-1],
        8: lambda x: np.rot90(x, 1),
    }
    return ops[orientation](a) if orientation in ops else a


def write_image(
    path: str | Path,
    pixels: np.ndarray,
    alpha: np.ndarray | None = None,
    bits: int = 8,
    quality: int = 95,
    png_level: int | None = None,
) -> Path:
    """Write float pixels in [0, 1] ((H, W, 3) or (H, W)) to `path`, format from its suffix.

    bits=16 writes a 16-bit PNG. png_level: zlib level 0-9 of a PNG (None: 6, Pillow's default, or the fast
    level 1 from FAST_PNG_PIXELS on). The file appears atomically (temporary file, then rename).
    """
    path = Path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower().lstrip("."))
    if fmt is None:
        raise ImageError(f"{path}: cannot write this format; use one of {', '.join(sorted(WRITE_FORMATS))}")
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    if bits == 16 and fmt != "PNG":
        raise ImageError(f"{path}: 16-bit output needs a .png file")
    if png_level is not None and png_level not in PNG_LEVELS:
        raise ValueError(f"png_level must be 0 to 9, got {png_level}")
    pixels = np.clip(np.asarray(pixels, dtype=np.float32), 0.0, 1.0)
    if png_level is None:
        png_level = FAST_PNG_LEVEL if pixels.shape[0] * pixels.shape[1] >= FAST_PNG_PIXELS else 6
    side = _MAX_WRITE_SIDE.get(fmt)
    if side and max(pixels.shape[:2]) > side:
        raise ImageError(f"{path}: {pixels.shape[1]}x{pixels.shape[0]} is too large for {fmt} (at most {side} "
                         "pixels a side); write a .png")
    if alpha is not None:
        alpha = np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0)
        if fmt == "JPEG":  # no alpha in JPEG: composite on white
            base = pixels if pixels.ndim == 3 else pixels[..., None]
            pixels = np.squeeze(base * alpha[..., None] + (1.0 - alpha[..., None]))
            alpha = None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.incomplete-{os.getpid()}.tmp")  # named as checkpoint.INCOMPLETE says
    try:
        if bits == 16:
            _write_png16(tmp, pixels, alpha, png_level)
        else:
            if alpha is not None:
                array = np.concatenate([pixels if pixels.ndim == 3 else pixels[..., None], alpha[..., None]], axis=2)
            else:
                array = pixels
            options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {"compress_level": png_level}
            if fmt == "PNG" and array.shape[0] * array.shape[1] >= FAST_PNG_PIXELS:
                write_png(tmp, array, png_level)  # every core: Pillow's encoder runs in one thread
            else:
                Image.fromarray(to_8bit(array)).save(tmp, format=fmt, **options)
        os.replace(tmp, path)
    except (OSError, ValueError) as err:
        raise ImageError(f"{path}: could not write it ({_write_problem(err)})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write_problem(err: Exception) -> str:
    """A short reason for a failed write, saying "disk full" in words whatever layer noticed it."""
    code = getattr(err, "errno", None)
    if code == errno.ENOSPC:
        return "disk full"
    if code == errno.EDQUOT:
        return "disk quota exceeded"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def _write_png16(path: Path, pixels: np.ndarray, alpha: np.ndarray | None, level: int) -> None:
    import cv2

    array = pixels if pixels.ndim == 3 else pixels[..., None]
    array = array[..., ::-1] if array.shape[2] == 3 else array  # RGB -> BGR for OpenCV
    if alpha is not None:
        if array.shape[2] == 1:
            array = np.repeat(array, 3, axis=2)
        array = np.concatenate([array, alpha[..., None]], axis=2)
    data = np.round(array * 65535.0).astype(np.uint16)
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(np.squeeze(data, axis=2) if data.shape[2] == 1 else data),
                               [cv2.IMWRITE_PNG_COMPRESSION, level])
    if not ok:
        raise ImageError(f"{path}: could not encode 16-bit PNG")
    with open(path, "wb") as f:  # not ndarray.tofile, whose short-write error names neither file nor cause
        f.write(encoded.tobytes())
