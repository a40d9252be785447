"""evaluate-translation's gap measures: a two-sample test that sees what a saturated domain classifier cannot,
and artefact figures that flag blotches and border streaks but not brush texture."""

import numpy as np
import pytest
import torch
from helpers import tiny_translator
from PIL import Image

from translate.cli.evaluate import main_translation
from translate.evaluation.artefacts import border_streak, colour_outliers
from translate.evaluation.two_sample import as_uint8_tensors, kid, run_seed, sample_crops, split_halves

FAST = {"steps": 80, "batch": 16, "test_crops": 256, "crop": 16}
LUMA = np.array([0.299, 0.587, 0.114])


def _texture(rng, size=32):
    """A smooth random luminance field in [0.3, 0.7], (size, size)."""
    coarse = rng.random((4, 4))
    field = np.asarray(Image.fromarray(np.uint8(coarse * 255)).resize((size, size), Image.BICUBIC), np.float32) / 255
    return 0.3 + 0.4 * field


def _images(seed, count, colour=(0.0, 0.0, 0.0), stripes=False):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        pixels = _texture(rng)[..., None] + np.asarray(colour)
        if stripes:
            pixels = pixels + 0.25 * (np.indices(pixels.shape[:2])[1] // 2 % 2)[..., None] - 0.125
        out.append(np.clip(pixels, 0, 1))
    return as_uint8_tensors(out, size=32)


def test_two_sets_from_one_distribution_cannot_be_told_apart():
    accuracy = np.mean([run_seed(_images(1, 16), _images(2, 16), seed, **FAST).accuracy for seed in range(3)])
    assert 0.35 < accuracy < 0.65


def test_a_clear_difference_is_told_apart_and_the_result_repeats():
    plain, striped = _images(1, 16), _images(2, 16, stripes=True)
    result = run_seed(plain, striped, 0, **FAST)
    assert result.accuracy > 0.9
    assert run_seed(plain, striped, 0, **FAST) == result  # seeded: the same figures on a rerun


def test_luminance_only_ignores_a_pure_colour_shift():
    shift = np.array([0.12, 0.0, 0.0])
    shift[1] = -shift[0] * LUMA[0] / LUMA[1]  # red up, green down: BT.601 luma unchanged
    reddish, greenish = _images(1, 16, colour=shift), _images(2, 16, colour=-shift)
    assert run_seed(reddish, greenish, 0, **FAST).accuracy > 0.9
    assert 0.3 < run_seed(reddish, greenish, 0, luminance=True, **FAST).accuracy < 0.7


@pytest.mark.parametrize("count", [4, 7, 30])
def test_the_split_never_puts_crops_of_one_image_on_both_sides(count):
    images = _images(0, count)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        train, test = split_halves(count, rng)
        assert sorted([*train, *test]) == list(range(count)) and len(test) - len(train) in (0, 1)
        _, train_sources = sample_crops(images, train, 200, 16, rng)
        _, test_sources = sample_crops(images, test, 200, 16, rng)
        assert set(train_sources) <= set(train) and set(test_sources) <= set(test)
        assert not set(train_sources) & set(test_sources)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(400, 16, generator=gen), torch.randn(400, 16, generator=gen)
    same, shifted = kid(x, y), kid(x, y + 0.5)
    assert abs(same) < 0.1 * shifted and shifted > 0
    assert abs(kid(x, x.clone())) < 0.1 * shifted


def _scene(size=128):
    """A smooth grey-green gradient with a fine chroma hatching, as a translator's brush texture leaves."""
    yy, xx = np.indices((size, size)) / size
    base = np.stack([0.35 + 0.2 * xx, 0.45 + 0.1 * yy, 0.35 + 0.1 * xx], axis=2)
    hatching = ((np.indices((size, size)).sum(0) // 2) % 2 - 0.5)[..., None] * np.array([0.3, -0.15, 0.15])
    return base, np.clip(base + hatching, 0, 1)


def test_smooth_images_and_brush_texture_are_not_flagged():
    smooth, hatched = _scene()
    assert not colour_outliers(smooth).any() and not colour_outliers(hatched).any()
    assert border_streak(smooth) < 0.01 and border_streak(hatched) < 0.02


def test_a_planted_blotch_is_flagged_and_only_there():
    _, hatched = _scene()
    blotched = hatched.copy()
    yy, xx = np.indices(blotched.shape[:2])
    radius = np.hypot(yy - 70, xx - 50)
    blotched[radius < 8] = (0.9, 0.05, 0.05)  # a red ring...
    blotched[radius < 4] = (0.05, 0.02, 0.02)  # ...round a dark core
    flagged = colour_outliers(blotched, source=hatched)
    assert flagged.any() and flagged[radius > 14].sum() == 0
    assert flagged[radius < 8].mean() > 0.3
    assert not colour_outliers(blotched, source=blotched).any()  # in the source already: not the translator's doing


@pytest.mark.parametrize("edge", ["top", "left"])
def test_a_planted_border_streak_is_flagged(edge):
    _, hatched = _scene()
    streaked = hatched.copy()
    if edge == "top":
        streaked[3:5] = (0.2, 0.6, 0.2)
    else:
        streaked[:, 3:5] = (0.2, 0.6, 0.2)
    assert border_streak(streaked) > 5 * max(border_streak(hatched), 0.01)


def _gap_folders(tmp_path):
    rng = np.random.default_rng(0)
    for name, count, stripes in (("a", 2, False), ("b", 6, True), ("test", 6, False)):
        (tmp_path / name).mkdir()
        for i in range(count):
            lines = 0.1 * stripes * (np.indices((96, 96))[1] // 2 % 2)
            pixels = np.clip(_texture(rng, 96) + lines, 0, 1)[..., None].repeat(3, axis=2)
            Image.fromarray(np.uint8(pixels * 255)).save(tmp_path / name / f"{i}.png")
    models = tmp_path / "models"
    models.mkdir()
    tiny_translator(models / "G_A2B.safetensors", ("a", "b"))
    tiny_translator(models / "G_B2A.safetensors", ("b", "a"))
    tiny_translator(tmp_path / "other.safetensors", ("a", "b"), seed=5)
    return models, ["--domainA", str(tmp_path / "a"), "--domainB", str(tmp_path / "b"), "--test",
                    str(tmp_path / "test"), "--classifier-steps", "5"]


def test_command_prints_a_gap_row_per_model_and_marks_outliers(tmp_path, capsys):
    models, folders = _gap_folders(tmp_path)
    marked = tmp_path / "marked"
    assert main_translation(["--model", str(models), *folders, "--two-sample", "--seeds", "2",
                             "--two-sample-steps", "3", "--compare", str(tmp_path / "other.safetensors"),
                             "--marked", str(marked)]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.splitlines()[-5:-1]]
    assert "2 seeds, 3 steps" in out and rows[1:] == ["untranslated", "models", "other"]
    assert len(list(marked.glob("*.png"))) == 3 * 6
    assert Image.open(marked / "other-0.png").size == (2 * 96, 96)  # output | flagged pixels


def test_command_artefacts_alone_and_refusals(tmp_path, capsys):
    models, folders = _gap_folders(tmp_path)
    assert main_translation(["--model", str(models), *folders, "--artefacts"]) == 0
    assert "untranslated" in capsys.readouterr().out
    assert main_translation(["--model", str(models), *folders, "--two-sample", "--max-images", "3"]) == 2
    assert "needs at least 4 test images" in capsys.readouterr().err
    assert main_translation(["--model", str(models), *folders, "--artefacts", "--seeds", "0"]) == 2
    assert "--seeds must be at least 1" in capsys.readouterr().err
