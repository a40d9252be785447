"""Brush scale: style models run at a working size and are guided back up to the photo's size."""

import numpy as np
from helpers import tiny_sr, tiny_translator
from PIL import Image

from translate.brush import LEARNED_SIDE, guided_upsample, paint, working_size
from translate.cli.translate import main
from translate.data.io import read_image
from translate.inference import Translator


def test_working_size_shrinks_big_photos_only():
    assert working_size((1600, 1200), "fine") is None
    assert working_size((1600, 1200), "medium") == (683, 2 * LEARNED_SIDE)
    assert working_size((1200, 1600), "large") == (320, 427)
    assert working_size((500, 400), "medium") is None  # already at or below the working size


def test_guided_upsampling_keeps_the_photos_edges_and_the_paintings_strokes():
    rng = np.random.default_rng(0)
    guide = np.zeros((64, 64, 3), np.float32)
    guide[:, 32:] = 1.0  # a sharp vertical edge
    small = guide[::4, ::4].copy()
    small[..., 0] += rng.normal(0, 0.05, (16, 16))  # "strokes": texture in the red channel only
    small = np.clip(small, 0, 1)
    up = guided_upsample(small, guide)
    assert up.shape == (64, 64, 3) and up.min() >= 0 and up.max() <= 1
    plain = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((64, 64), Image.Resampling.BICUBIC),
                       dtype=np.float32) / 255
    # across the edge: the guided result jumps in one pixel where bicubic ramps over several
    assert abs(up[10, 33, 1] - up[10, 30, 1]) > 0.9 > abs(plain[10, 33, 1] - plain[10, 30, 1])
    assert up[:, :28, 0].std() > 0.02  # the strokes survive away from the edge


def test_paint_returns_the_full_size_with_alpha_and_leaves_other_models_alone(tmp_path):
    source = tmp_path / "big.png"
    rgba = np.random.default_rng(1).integers(0, 255, (600, 700, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(source)
    decoded = read_image(source, keep_alpha=True)
    style = Translator.from_file(tiny_translator(tmp_path / "t.safetensors"), device="cpu")
    out = paint(style, decoded, "large")
    assert out.pixels.shape == (600, 700, 3) and np.array_equal(out.alpha, decoded.alpha)
    assert not np.allclose(out.pixels, paint(style, decoded, "fine").pixels)
    sr = Translator.from_file(tiny_sr(tmp_path / "sr.safetensors", scale=2), device="cpu")
    assert np.array_equal(paint(sr, decoded, "large").pixels, sr.image(decoded).pixels)


def test_translate_brush_flag(tmp_path):
    model = tiny_translator(tmp_path / "m.safetensors")
    Image.new("RGB", (720, 560), (90, 140, 200)).save(tmp_path / "p.png")
    for brush in ("fine", "large"):
        assert main(["--device", "cpu", str(tmp_path / "p.png"), "--model", str(model), "--brush", brush,
                     "--out", str(tmp_path / brush)]) == 0
        assert Image.open(tmp_path / brush / "p_paintings.png").size == (720, 560)
