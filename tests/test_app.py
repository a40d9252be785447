"""The web app's handlers, called directly: right sizes and modes out, errors as clear messages."""

import platform

import numpy as np
import pytest
from helpers import tiny_generator, tiny_sr, tiny_translator
from PIL import Image

from translate.app import Shelf, Upload
from translate.errors import UserError


@pytest.fixture
def shelf(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    tiny_translator(folder / "style_A2B.safetensors", ("photos", "vangogh"))
    tiny_translator(folder / "style_B2A.safetensors", ("vangogh", "photos"))
    tiny_sr(folder / "sr_x2.safetensors")
    tiny_generator(folder / "digits.safetensors", labels=tuple("0123456789"))
    (folder / "digits.md").write_text("# Digits\nA card.")
    (folder / "broken.safetensors").write_bytes(b"junk")
    return Shelf([folder], device="cpu")


def _upload(tmp_path, name, size=(30, 20), mode="RGB"):
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    array = np.random.default_rng(0).integers(0, 255, (size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(array.squeeze(2) if channels == 1 else array, mode).save(tmp_path / name)
    return Upload(str(tmp_path / name), name)


def test_models_are_sorted_into_tabs(shelf):
    assert shelf.choices("translation") == ["photos → vangogh (style_A2B)", "vangogh → photos (style_B2A)"]
    assert shelf.choices("super-resolution") == ["x2 (sr_x2)"]
    assert shelf.choices("generation") == ["digits"]
    text = shelf.describe()
    assert "A card." in text and "broken.safetensors" in text


@pytest.mark.parametrize("mode, shape", [("RGB", (20, 30, 3)), ("L", (20, 30)), ("RGBA", (20, 30, 4))])
def test_style_keeps_size_and_look(shelf, tmp_path, mode, shape):
    out = shelf.style(_upload(tmp_path, f"x.{mode}.png", mode=mode), "photos → vangogh (style_A2B)")
    assert out.shape == shape and out.dtype == np.uint8


def test_super_resolution_slider_pair(shelf, tmp_path):
    (before, after), size = shelf.super_resolve(_upload(tmp_path, "a.png"), "x2 (sr_x2)")
    assert before.shape == after.shape == (40, 60, 3)
    assert size.startswith("30×20 → 60×40")


def test_generate_grid_and_strip(shelf):
    grid, strip = shelf.generate("digits", 3, "", 20)
    assert grid.ndim == 3 and grid.shape[1] == 10 * 64 + 11 * 8  # one column per class, 64-pixel cells
    assert strip.shape[1] == 8 * 64 + 9 * 8
    one_class, _ = shelf.generate("digits", 3, "7", 4)
    assert one_class.shape[1] == 2 * 64 + 3 * 8


def test_errors_become_messages(shelf, tmp_path):
    bad = tmp_path / "upload123.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(UserError, match="^holiday.png: not an image file"):
        shelf.style(Upload(str(bad), "holiday.png"), "photos → vangogh (style_A2B)")
    with pytest.raises(UserError, match="upload an image first"):
        shelf.style(None, "photos → vangogh (style_A2B)")
    with pytest.raises(UserError, match="pick a model first"):
        shelf.style(_upload(tmp_path, "a.png"), None)
    big = _upload(tmp_path, "big.png", size=(1200, 1000))
    with pytest.raises(UserError, match="over the limit of 1 MP"):
        shelf.super_resolve(big, "x2 (sr_x2)")
    with pytest.raises(UserError, match="number of samples"):
        shelf.generate("digits", 0, "", 500)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")
def test_heap_trimmer_is_active_on_glibc():
    from translate.app import HeapTrimmer

    trim = HeapTrimmer()
    assert trim.active  # mallopt accepted the arena limit
    trim()
