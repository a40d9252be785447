"""Safe image decoding: every odd format decodes right, every bad file gets a one-line ImageError."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import swapped_primaries_profile
from PIL import Image, ImageOps

from translate.data.io import list_images, read_image, write_image
from translate.errors import ImageError


def _save(path: Path, image: Image.Image, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def _gradient(w: int = 12, h: int = 8) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    return np.concatenate([np.broadcast_to(x, (h, w, 1)), np.broadcast_to(y, (h, w, 1)),
                           np.full((h, w, 1), 60, np.float32)], axis=2).astype(np.uint8)


def _one_line_error(path: Path, match: str, **kwargs) -> None:
    with pytest.raises(ImageError) as info:
        read_image(path, **kwargs)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert match in message


def test_rgb_png_roundtrip_values(tmp_path):
    array = _gradient()
    image = read_image(_save(tmp_path / "a.png", Image.fromarray(array)))
    assert image.pixels.shape == (8, 12, 3) and image.pixels.dtype == np.float32
    assert image.size == (12, 8) and not image.grayscale and image.bit_depth == 8 and image.alpha is None
    np.testing.assert_allclose(image.pixels, array / 255.0, atol=1e-6)


def test_grayscale_is_flagged_and_expanded(tmp_path):
    gray = (np.arange(48, dtype=np.uint8) * 5).reshape(6, 8)
    image = read_image(_save(tmp_path / "g.png", Image.fromarray(gray, "L")))
    assert image.grayscale and image.pixels.shape == (6, 8, 3)
    np.testing.assert_allclose(image.pixels[..., 0], gray / 255.0, atol=1e-6)
    assert np.all(image.pixels[..., 0] == image.pixels[..., 2])
    as_l = read_image(tmp_path / "g.png", mode="L")
    assert as_l.pixels.shape == (6, 8)
    np.testing.assert_allclose(as_l.pixels, gray / 255.0, atol=1e-5)


def test_rgba_composites_on_white_or_keeps_alpha(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:2, :, 3] = 255  # top half opaque red, bottom half fully transparent
    path = _save(tmp_path / "a.png", Image.fromarray(rgba, "RGBA"))
    flat = read_image(path)
    np.testing.assert_allclose(flat.pixels[0, 0], [1, 0, 0])
    np.testing.assert_allclose(flat.pixels[3, 0], [1, 1, 1])
    kept = read_image(path, keep_alpha=True)
    assert kept.alpha is not None and kept.alpha.shape == (4, 4)
    assert kept.alpha[0, 0] == 1.0 and kept.alpha[3, 0] == 0.0


def test_palette_with_transparency(tmp_path):
    image = Image.fromarray(_gradient()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    path = _save(tmp_path / "p.png", image, transparency=0)
    decoded = read_image(path, keep_alpha=True)
    assert decoded.pixels.shape == (8, 12, 3) and decoded.alpha is not None
    assert decoded.alpha.min() == 0.0 and decoded.alpha.max() == 1.0


def test_cmyk_jpeg_converts_to_rgb(tmp_path):
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    decoded = read_image(_save(tmp_path / "c.jpg", cmyk, quality=100))
    assert decoded.pixels.shape == (8, 8, 3)
    r, g, b = decoded.pixels[4, 4]
    assert r > 0.9 and g < 0.1 and b < 0.1


def test_16bit_grayscale_keeps_precision(tmp_path):
    values = np.array([[0, 1, 257, 65535]], dtype=np.uint16).repeat(3, axis=0)
    path = _save(tmp_path / "g16.png", Image.fromarray(values))
    decoded = read_image(path)
    assert decoded.bit_depth == 16 and decoded.grayscale
    np.testing.assert_allclose(decoded.pixels[0, :, 0], values[0] / 65535.0, atol=1e-7)


def test_16bit_gray_with_a_transparent_value(tmp_path):
    values = np.array([[0, 1000, 65535]], np.uint16)
    decoded = read_image(_save(tmp_path / "t.png", Image.fromarray(values), transparency=1000), keep_alpha=True)
    assert decoded.bit_depth == 16 and decoded.alpha.tolist() == [[1.0, 0.0, 1.0]]
    assert read_image(tmp_path / "t.png").pixels[0, 1].tolist() == [1.0, 1.0, 1.0]  # composited on white


def test_16bit_gray_with_alpha_keeps_precision_and_stays_gray(tmp_path):
    gray = np.array([[0, 257, 40000, 65535]], ">u2")  # 257: a step 8 bits cannot hold
    samples = np.stack([gray, np.full_like(gray, 30000)], axis=-1).astype(">u2")  # colour type 4: gray, alpha
    raw = b"".join(b"\x00" + row.tobytes() for row in samples)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 4, 1, 16, 4, 0, 0, 0)
    path = tmp_path / "la16.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))
    image = read_image(path, keep_alpha=True)
    assert image.grayscale and image.bit_depth == 16
    assert np.allclose(image.pixels[0, :, 0], gray[0] / 65535, atol=1e-6)
    assert np.allclose(image.alpha, 30000 / 65535, atol=1e-6)


def test_16bit_rgba_from_real_data(samples):
    path = samples / "realworld_lq" / "tree_alpha_16bit.png"
    decoded = read_image(path, keep_alpha=True)
    assert decoded.bit_depth == 16 and decoded.pixels.shape == (256, 342, 3)
    assert decoded.alpha is not None and decoded.alpha.min() < 0.5 < decoded.alpha.max()
    # agrees with Pillow's 8-bit reading to within 8-bit rounding
    eight = np.asarray(Image.open(path), dtype=np.float32) / 255.0
    np.testing.assert_allclose(decoded.alpha, eight[..., 3], atol=1 / 255 + 1e-6)
    opaque = eight[..., 3] == 1.0
    np.testing.assert_allclose(decoded.pixels[opaque], eight[..., :3][opaque], atol=1 / 255 + 1e-6)


@pytest.mark.parametrize("name, gray, alpha", [("wolf_gray.jpg", True, False), ("00017_gray.png", True, False),
                                               ("children-alpha.png", False, True), ("0014.jpg", False, False)])
def test_real_odd_files(samples, name, gray, alpha):
    decoded = read_image(samples / "realworld_lq" / name, keep_alpha=True)
    assert decoded.grayscale == gray and (decoded.alpha is not None) == alpha
    assert decoded.pixels.ndim == 3 and decoded.pixels.shape[2] == 3
    assert decoded.pixels.min() >= 0.0 and decoded.pixels.max() <= 1.0


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(_gradient(12, 8))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = _save(tmp_path / "o.jpg", image, exif=exif, quality=100)
    decoded = read_image(path)
    assert decoded.pixels.shape == (12, 8, 3)
    # after a clockwise turn the original left column (x=0, red 0) is the top row
    assert decoded.pixels[0, :, 0].max() < 0.1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow_on_16bit_files_too(tmp_path, orientation):
    import cv2

    rng = np.random.default_rng(orientation)
    eight = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    image = Image.fromarray(eight)
    exif = image.getexif()
    exif[0x0112] = orientation
    expected = np.asarray(ImageOps.exif_transpose(Image.open(_save(tmp_path / "o.png", image, exif=exif))))
    # the same pixels as a 16-bit PNG, which OpenCV decodes and our own code turns: add an eXIf chunk
    cv2.imwrite(str(tmp_path / "o16.png"), eight[..., ::-1].astype(np.uint16) * 257)
    data, body = (tmp_path / "o16.png").read_bytes(), b"eXIf" + exif.tobytes()
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    end = data.rindex(b"IEND") - 4
    (tmp_path / "o16.png").write_bytes(data[:end] + chunk + data[end:])
    sixteen = read_image(tmp_path / "o16.png")
    assert sixteen.bit_depth == 16
    np.testing.assert_allclose(sixteen.pixels, expected / 255.0, atol=1e-6)
    np.testing.assert_allclose(read_image(tmp_path / "o.png").pixels, expected / 255.0, atol=1e-6)


def test_16bit_rgb_tiff_keeps_precision(tmp_path):
    import cv2

    values = np.array([[[0, 257, 65535], [1, 40000, 30001]]], np.uint16)
    cv2.imwrite(str(tmp_path / "c16.tif"), values[..., ::-1])
    decoded = read_image(tmp_path / "c16.tif")
    assert decoded.bit_depth == 16 and not decoded.grayscale
    np.testing.assert_allclose(decoded.pixels, values / 65535.0, atol=1e-7)


def test_32bit_integer_beyond_16_bits_refused(tmp_path):
    path = _save(tmp_path / "i32.tif", Image.fromarray(np.array([[0, 70000]], np.int32), "I"))
    _one_line_error(path, "32-bit integer samples")


def test_embedded_colour_profile_is_converted_to_srgb(tmp_path):
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    red = Image.new("RGB", (2, 2), (255, 0, 0))
    tagged = read_image(_save(tmp_path / "p.png", red, icc_profile=swapped_primaries_profile())).pixels[0, 0]
    assert tagged[1] > 0.9 and tagged[0] < 0.1  # green on screen, so green in sRGB
    same = read_image(_save(tmp_path / "s.png", red, icc_profile=srgb)).pixels[0, 0]
    np.testing.assert_allclose(same, [1, 0, 0], atol=0.02)
    broken = read_image(_save(tmp_path / "b.png", red, icc_profile=b"not a profile")).pixels[0, 0]
    np.testing.assert_allclose(broken, [1, 0, 0])


def test_one_pixel_image(tmp_path):
    decoded = read_image(_save(tmp_path / "1.png", Image.new("RGB", (1, 1), (255, 0, 0))))
    assert decoded.pixels.shape == (1, 1, 3)


def test_missing_file(tmp_path):
    _one_line_error(tmp_path / "nope.png", "no such file")


def test_directory(tmp_path):
    _one_line_error(tmp_path, "is a folder")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    _one_line_error(path, "empty file")


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello, not pixels\n")
    _one_line_error(path, "not an image")


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated(tmp_path, suffix):
    rng = np.random.default_rng(0)
    full = _save(tmp_path / f"full{suffix}", Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    _one_line_error(cut, "corrupt or truncated")


def test_pixel_cap(tmp_path):
    path = _save(tmp_path / "big.png", Image.new("RGB", (200, 100)))
    _one_line_error(path, "over the limit", max_pixels=10_000)


def test_float_tiff_refused(tmp_path):
    path = _save(tmp_path / "f.tif", Image.fromarray(np.ones((4, 4), np.float32), "F"))
    _one_line_error(path, "32-bit float")


def test_write_image_8_and_16_bit_with_alpha(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.random((5, 7, 3), dtype=np.float32)
    alpha = rng.random((5, 7), dtype=np.float32)
    eight = read_image(write_image(tmp_path / "o8.png", pixels, alpha), keep_alpha=True)
    np.testing.assert_allclose(eight.pixels, pixels, atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(eight.alpha, alpha, atol=0.5 / 255 + 1e-6)
    sixteen = read_image(write_image(tmp_path / "o16.png", pixels, alpha, bits=16), keep_alpha=True)
    assert sixteen.bit_depth == 16
    np.testing.assert_allclose(sixteen.pixels, pixels, atol=0.5 / 65535 + 1e-6)
    np.testing.assert_allclose(sixteen.alpha, alpha, atol=0.5 / 65535 + 1e-6)
    gray16 = read_image(write_image(tmp_path / "g16.png", pixels[..., 0], bits=16))
    assert gray16.grayscale and gray16.bit_depth == 16
    with pytest.raises(ImageError, match="16-bit output needs a .png"):
        write_image(tmp_path / "x.jpg", pixels, bits=16)
    with pytest.raises(ImageError, match=r"wide\.webp: 16400x2 is too large for WEBP \(at most 16383"):
        write_image(tmp_path / "wide.webp", np.zeros((2, 16400, 3), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g16.png", "o16.png", "o8.png"]  # no temp files


def test_list_images(tmp_path):
    with pytest.raises(ImageError, match="no such folder"):
        list_images(tmp_path / "missing")
    with pytest.raises(ImageError, match="no images found"):
        list_images(tmp_path)
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (2, 2)).save(tmp_path / "sub" / "b.png")
    Image.new("RGB", (2, 2)).save(tmp_path / "a.JPG")
    (tmp_path / "readme.txt").write_text("x")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png"]
    for hidden in (tmp_path / ".ipynb_checkpoints", tmp_path / "sub" / ".thumbs"):
        hidden.mkdir()
        Image.new("RGB", (2, 2)).save(hidden / "c.png")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png"]
    assert [p.name for p in list_images(tmp_path / ".ipynb_checkpoints")] == ["c.png"]  # asked for by name


def test_png_level_fast_by_default_for_big_images(tmp_path, monkeypatch):
    import translate.data.io as io_module
    import translate.data.png as png_module

    ramp = np.linspace(0, 1, 40 * 30 * 3, dtype=np.float32).reshape(30, 40, 3)
    paths = {}
    for name, level in (("default", None), ("six", 6), ("one", 1)):
        paths[name] = write_image(tmp_path / f"{name}.png", ramp, png_level=level)
    assert paths["default"].read_bytes() == paths["six"].read_bytes()  # small images: Pillow's level 6
    assert paths["one"].read_bytes() != paths["six"].read_bytes()
    monkeypatch.setattr(io_module, "FAST_PNG_PIXELS", 40 * 30)  # this image now counts as big
    monkeypatch.setattr(png_module, "_STRIP_BYTES", 7 * (40 * 3 + 1))  # in 5 strips of 7 rows (the last 2)
    sizes = {}
    for level in (None, 0, 1, 9):  # the parallel encoder: the same pixels, level 1 by default
        out = write_image(tmp_path / f"big-{level}.png", ramp, png_level=level)
        assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(paths["six"])))
        sizes[level] = out.stat().st_size
    assert sizes[None] == sizes[1] and sizes[0] > sizes[1] >= sizes[9]
    for level in (0, 9):  # 16-bit PNGs take the level too, and stay lossless
        out = write_image(tmp_path / f"16-{level}.png", ramp, bits=16, png_level=level)
        assert np.array_equal(read_image(out).pixels, read_image(tmp_path / "16-0.png").pixels)
    assert (tmp_path / "16-0.png").stat().st_size > (tmp_path / "16-9.png").stat().st_size
    with pytest.raises(ValueError, match="png_level must be 0 to 9"):
        write_image(tmp_path / "x.png", ramp, png_level=10)


@pytest.mark.parametrize("shape", [(37, 53, 3), (5, 3), (1, 1, 4), (30, 20, 2), (61, 17, 3)])
def test_parallel_png_encoder_decodes_to_the_same_pixels(shape, monkeypatch):
    """Strips joined into one zlib stream (sync flushes, combined Adler-32) and Up-filtered rows decode, by
    Pillow's zlib, to exactly what Pillow's own encoder stores."""
    import io

    import translate.data.png as png_module

    monkeypatch.setattr(png_module, "_STRIP_BYTES", 200)  # many strips, some of a single row
    pixels = np.random.default_rng(0).random(shape, dtype=np.float32)
    decoded = Image.open(io.BytesIO(png_module.encode_png(pixels, level=6, threads=3)))
    decoded.load()
    expected = np.round(pixels * 255).astype(np.uint8)
    assert decoded.mode == {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[1 if len(shape) == 2 else shape[2]]
    assert np.array_equal(np.asarray(decoded), expected)
