"""The translate command: any size, any format, folders, outputs never clobbered, clear errors."""

import sys

import numpy as np
import pytest
from helpers import tiny_generator, tiny_sr, tiny_translator
from PIL import Image

from translate.cli.translate import main
from translate.data.io import read_image
from translate.errors import ModelFileError
from translate.zoo import resolve_model

CPU = ("--device", "cpu")  # explicit: outputs are compared with CPU results


def _image(path, size=(33, 47), mode="RGB"):
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    array = rng.integers(0, 255, (size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(array.squeeze(2) if channels == 1 else array, mode).save(path)
    return path


def test_single_file_beside_input_with_domain_suffix(tmp_path):
    model = tiny_translator(tmp_path / "m.safetensors")
    source = _image(tmp_path / "cat.jpg")
    assert main([*CPU, str(source), "--model", str(model), "--no-progress"]) == 0
    out = read_image(tmp_path / "cat_paintings.png")
    assert out.size == (33, 47)
    assert source.is_file()  # the input is never touched


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (33, 47), (64, 8)])
def test_any_size_keeps_size(tmp_path, size):
    model = tiny_translator(tmp_path / "m.safetensors")
    source = _image(tmp_path / "x.png", size)
    assert main([*CPU, str(source), "--model", str(model), "--out", str(tmp_path / "o")]) == 0
    assert read_image(tmp_path / "o" / "x_paintings.png").size == size


def test_gray_rgba_and_16bit(tmp_path, samples):
    model = tiny_translator(tmp_path / "m.safetensors")
    gray, rgba = _image(tmp_path / "g.png", mode="L"), _image(tmp_path / "a.png", mode="RGBA")
    out = tmp_path / "o"
    assert main([*CPU, str(gray), str(rgba), "--model", str(model), "--out", str(out)]) == 0
    assert Image.open(out / "g_paintings.png").mode == "L"
    result = Image.open(out / "a_paintings.png")
    assert result.mode == "RGBA"
    assert np.array_equal(np.asarray(result)[..., 3], np.asarray(Image.open(rgba))[..., 3])  # alpha passed through
    sixteen = samples / "realworld_lq" / "tree_alpha_16bit.png"
    assert main([*CPU, str(sixteen), "--model", str(model), "--out", str(out), "--16bit"]) == 0
    decoded = read_image(out / "tree_alpha_16bit_paintings.png", keep_alpha=True)
    assert decoded.bit_depth == 16 and decoded.alpha is not None and decoded.size == (342, 256)


def test_super_resolution_scales_image_and_alpha(tmp_path):
    model = tiny_sr(tmp_path / "sr.safetensors", scale=2)
    rgba = _image(tmp_path / "a.png", (20, 12), mode="RGBA")
    assert main([*CPU, str(rgba), "--model", str(model)]) == 0
    out = Image.open(tmp_path / "a_x2.png")
    assert out.size == (40, 24) and out.mode == "RGBA"


def test_tiled_output_has_no_seams(tmp_path):
    model = tiny_sr(tmp_path / "sr.safetensors", scale=2)
    source = _image(tmp_path / "big.png", (150, 90))
    assert main([*CPU, str(source), "--model", str(model), "--out", str(tmp_path / "whole"), "--tile", "0"]) == 0
    assert main([*CPU, str(source), "--model", str(model), "--out", str(tmp_path / "tiled"), "--tile", "48",
                 "--tile-overlap", "40"]) == 0
    a = np.asarray(Image.open(tmp_path / "whole" / "big_x2.png"), dtype=int)
    b = np.asarray(Image.open(tmp_path / "tiled" / "big_x2.png"), dtype=int)
    assert np.abs(a - b).max() <= 1


def test_folder_recursive_bad_file_counted(tmp_path, capsys):
    model = tiny_translator(tmp_path / "m.safetensors")
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    _image(folder / "a.png")
    _image(folder / "sub" / "b.jpg")
    (folder / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert main([*CPU, str(folder), "--model", str(model), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and "2 written, 0 skipped, 1 failed" in err
    # the files carry the model's suffix as they do with --out, so a copied output still says what made it
    assert (tmp_path / "photos_paintings" / "a_paintings.png").is_file()
    assert (tmp_path / "photos_paintings" / "sub" / "b_paintings.png").is_file()
    # a second run leaves earlier outputs alone unless --overwrite
    for _ in range(2):
        assert main([*CPU, str(folder / "a.png"), "--model", str(model), "--out", str(tmp_path / "o")]) == 0
    assert "exists (pass --overwrite)" in capsys.readouterr().err


def test_direction_and_short_names(tmp_path):
    tiny_translator(tmp_path / "style_A2B.safetensors", ("photos", "vangogh"))
    tiny_translator(tmp_path / "style_B2A.safetensors", ("vangogh", "photos"), seed=1)
    tiny_sr(tmp_path / "sr_x2.safetensors")
    assert resolve_model("style", "BtoA", folder=tmp_path).name == "style_B2A.safetensors"
    assert resolve_model("sr_x2", folder=tmp_path).name == "sr_x2.safetensors"
    assert resolve_model(str(tmp_path / "style_A2B.safetensors"), "BtoA").name == "style_B2A.safetensors"
    with pytest.raises(ModelFileError, match="needs the B -> A file"):
        resolve_model(str(tmp_path / "sr_x2.safetensors"), "BtoA")
    source = _image(tmp_path / "p.png")
    assert main([*CPU, str(source), "--model", str(tmp_path / "style_A2B.safetensors"), "--direction", "BtoA"]) == 0
    assert (tmp_path / "p_photos.png").is_file()
    # both directions into one --out folder: two outputs (the second was skipped as "exists" when the
    # names did not say which model made them)
    for direction in ("AtoB", "BtoA"):
        assert main([*CPU, str(source), "--model", str(tmp_path / "style_A2B.safetensors"), "--direction", direction,
                     "--out", str(tmp_path / "o")]) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["p_photos.png", "p_vangogh.png"]


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"),
    ("pickle", "looks like a PyTorch pickle"),
    ("generation", "is a generation model; this needs a translation or super-resolution model"),
    ("noname", "no such model file or bundled model"),
    ("renamed_pickle", "looks like a PyTorch pickle"),
    ("provider", "--provider cuda applies to .onnx models"),
])
def test_bad_model_is_exit_2_one_line(tmp_path, capsys, case, message):
    source = _image(tmp_path / "p.png")
    models = {"missing": tmp_path / "nope.safetensors", "pickle": tmp_path / "m.pth",
              "generation": tiny_generator(tmp_path / "g.safetensors"), "noname": "nosuchmodel",
              "renamed_pickle": tmp_path / "m.pkl", "provider": tiny_translator(tmp_path / "t.safetensors")}
    (tmp_path / "m.pth").write_bytes(b"\x80\x02}q\x00.")
    (tmp_path / "m.pkl").write_bytes(b"\x80\x02}q\x00.")
    extra = ["--provider", "cuda"] if case == "provider" else []
    assert main([*CPU, str(source), "--model", str(models[case]), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_missing_input(tmp_path, capsys):
    model = tiny_translator(tmp_path / "m.safetensors")
    assert main([*CPU, str(tmp_path / "nothing.png"), "--model", str(model)]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_outputs_never_replace_inputs_or_each_other(tmp_path, capsys):
    model = tiny_translator(tmp_path / "m.safetensors")
    folder = tmp_path / "imgs"
    folder.mkdir()
    _image(folder / "a.jpg")
    before = _image(folder / "b.png").read_bytes()
    _image(folder / "b_paintings.png", size=(5, 5))
    # an output that is another input is skipped, even with --overwrite
    assert main([*CPU, str(folder / "b.png"), str(folder / "b_paintings.png"), "--model", str(model), "--overwrite",
                 "--no-progress"]) == 0
    assert "is one of the inputs" in capsys.readouterr().err
    assert Image.open(folder / "b_paintings.png").size == (5, 5)
    # two inputs that would write the same file: refused before anything is written
    _image(folder / "b.jpg")
    assert main([*CPU, str(folder), "--model", str(model), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "would both be written to" in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists() and (folder / "b.png").read_bytes() == before


@pytest.mark.parametrize("case, message", [
    ("out_is_file", "is a file; pass a folder"),
    ("resize", "--resize must be at least 1, got 0"),
    ("bad_single", "broken.png: "),
])
def test_cli_errors_are_exit_2_one_line(tmp_path, capsys, case, message):
    model = tiny_translator(tmp_path / "m.safetensors")
    source = _image(tmp_path / "p.png")
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    args = {"out_is_file": [str(source), "--out", str(tmp_path / "file.txt")],
            "resize": [str(source), "--resize", "0"],
            "bad_single": [str(tmp_path / "broken.png")]}[case]
    assert main([*CPU, *args, "--model", str(model), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ") and err.count("error: ") == 1, err


def test_current_folder_as_input(tmp_path, monkeypatch):
    model = tiny_translator(tmp_path / "m.safetensors")
    (tmp_path / "here").mkdir()
    _image(tmp_path / "here" / "p.png")
    monkeypatch.chdir(tmp_path / "here")
    assert main([*CPU, ".", "--model", str(model), "--no-progress"]) == 0
    assert (tmp_path / "here_paintings" / "p_paintings.png").is_file()


def test_one_large_image_shows_a_bar_over_its_tiles(tmp_path, capsys, monkeypatch):
    model = tiny_translator(tmp_path / "m.safetensors")
    source = _image(tmp_path / "big.png", (120, 92))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main([*CPU, str(source), "--model", str(model), "--tile", "48", "--tile-overlap", "16"]) == 0
    err = capsys.readouterr().err
    assert "/96 [" in err and "tile/s" in err  # a bar over 12 tiles, run once per norm layer (7) and once more
    assert main([*CPU, str(source), "--model", str(model), "--tile", "48", "--tile-overlap", "16", "--overwrite",
                 "--no-progress"]) == 0
    assert "/96" not in capsys.readouterr().err
