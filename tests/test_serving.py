"""Serving reads only the spec: run folders of every recipe, the app's tabs, the legacy rule for old files, and
the new spec fields' checks."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_generator, tiny_sr, tiny_translator
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from translate.checkpoint import load_model, read_spec, save_model
from translate.cli.translate import main as translate_main
from translate.errors import ModelFileError
from translate.model_spec import ModelSpec
from translate.nets import GENERATORS
from translate.zoo import bundled_models_dir, resolve_model

CPU = ["--device", "cpu", "--no-progress"]
NEW_FIELDS = ("min_multiples", "paired_input", "direction")


def _photo(path: Path, size=(30, 21)) -> Path:
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def _tiny_unet(path: Path, **fields) -> Path:
    kwargs = {"num_downs": 5, "ngf": 4}
    torch.manual_seed(0)
    spec = ModelSpec(task="translation", arch="unet", arch_kwargs=kwargs, in_channels=3, out_channels=3,
                     size_multiple=32, domains=("labels", "facades"), **fields)
    return save_model(path, GENERATORS["unet"](**kwargs), spec)


def _spec_text(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["spec"])


def _respec(source: Path, target: Path, **changes) -> Path:
    """A copy of `source` with spec fields changed (None: removed, as in files of version 0.1)."""
    with safe_open(str(source), framework="pt") as f:
        metadata, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    spec = json.loads(metadata["spec"])
    for key, value in changes.items():
        spec.pop(key) if value is None else spec.__setitem__(key, value)
    metadata["spec"] = json.dumps(spec)
    save_file(tensors, str(target), metadata=metadata)
    return target


def _train(recipe, config, out: Path) -> Path:
    from translate.training.config import LoopConfig
    from translate.training.loop import train

    train(recipe, config, LoopConfig(out=str(out), steps=1, batch_size=2, workers=0, progress=False,
                                     tensorboard=False, log_every=1, sample_every=100, checkpoint_every=100,
                                     device="cpu"))
    return out / "models"


def test_run_folders_of_every_recipe_are_served_by_their_specs(tmp_path, capsys):
    """translate --model RUN/models, for the folders pix2pix (G), CycleGAN (G_A2B, G_B2A), CUT (G_A2B) and
    SRGAN (sr_x4) write; the model is picked by the specs the recipes write."""
    from test_cut import _config as cut_config
    from test_cut import _domains as cut_domains
    from test_cyclegan import _config as cyclegan_config
    from test_cyclegan import _domains as cyclegan_domains
    from test_pix2pix import _twins
    from test_sr import _hr_folder

    from translate.training.cut import CutRecipe
    from translate.training.cyclegan import CycleganRecipe
    from translate.training.pix2pix import Pix2pixConfig, Pix2pixRecipe
    from translate.training.srgan import SrganConfig, SrganRecipe

    (tmp_path / "c").mkdir()
    (tmp_path / "u").mkdir()
    runs = {
        "pix2pix": _train(Pix2pixRecipe, Pix2pixConfig(data=str(_twins(tmp_path / "pairs")), crop=32, load_size=36,
                                                       unet_downs=5, ngf=4, ndf=4, min_items=4, names=("map", "photo")),
                          tmp_path / "pix2pix"),
        "cyclegan": _train(CycleganRecipe, cyclegan_config(*cyclegan_domains(tmp_path / "c")), tmp_path / "cyclegan"),
        "cut": _train(CutRecipe, cut_config(*cut_domains(tmp_path / "u"), names=("photo", "vangogh")),
                      tmp_path / "cut"),
        "srgan": _train(SrganRecipe, SrganConfig(data=str(_hr_folder(tmp_path, [(48, 48)] * 2)), crop=32, n_blocks=1,
                                                 channels=8), tmp_path / "srgan"),
    }
    assert sorted(p.name for p in runs["pix2pix"].iterdir()) == ["G.safetensors"]
    assert sorted(p.name for p in runs["srgan"].iterdir()) == ["sr_x4.safetensors"]
    # what each recipe writes
    g = read_spec(runs["pix2pix"] / "G.safetensors")
    assert (g.paired_input, g.min_multiples, g.direction, g.domains) == (True, 1, "AtoB", ("map", "photo"))
    for stem, direction in (("G_A2B", "AtoB"), ("G_B2A", "BtoA")):
        spec = read_spec(runs["cyclegan"] / f"{stem}.safetensors")
        assert (spec.paired_input, spec.min_multiples, spec.direction) == (False, 2, direction)
    cut = read_spec(runs["cut"] / "G_A2B.safetensors")
    assert (cut.paired_input, cut.direction) == (False, "AtoB")
    sr = read_spec(runs["srgan"] / "sr_x4.safetensors")
    assert (sr.paired_input, sr.min_multiples, sr.direction) == (False, 1, None)

    photo = _photo(tmp_path / "p.png")
    cases = [("pix2pix", "AtoB", "p_photo.png", (30, 21)), ("cyclegan", "AtoB", "p_paintings.png", (30, 21)),
             ("cyclegan", "BtoA", "p_photos.png", (30, 21)), ("cut", "AtoB", "p_vangogh.png", (30, 21)),
             ("srgan", "AtoB", "p_x4.png", (120, 84))]
    for run, direction, name, size in cases:
        out = tmp_path / "out" / run
        assert translate_main([*CPU, str(photo), "--model", str(runs[run]), "--direction", direction,
                               "--out", str(out)]) == 0, (run, direction)
        assert Image.open(out / name).size == size
    capsys.readouterr()
    # one way only: one line naming the folder
    assert translate_main([*CPU, str(photo), "--model", str(runs["pix2pix"]), "--direction", "BtoA"]) == 2
    assert capsys.readouterr().err == (f"error: {runs['pix2pix']}: has one direction only (G.safetensors); drop "
                                       "--direction BtoA\n")
    # the same picks for export-onnx and evaluate-paired's model resolution
    assert resolve_model(str(runs["cyclegan"]), "BtoA").name == "G_B2A.safetensors"
    assert resolve_model(str(runs["cut"]), task="translation").name == "G_A2B.safetensors"
    # the app and translate-info read the same specs from the run folders
    from translate.cli.info import main as info_main
    from translate.web_ui import Shelf

    shelf = Shelf(list(runs.values()), device="cpu")
    assert shelf.choices("translation", paired=True) == ["map → photo (G)"]
    assert shelf.choices("translation", paired=False) == ["photos → paintings (G_A2B)", "paintings → photos (G_B2A)",
                                                          "photo → vangogh (G_A2B)"]
    assert info_main(["--models", str(runs["pix2pix"])]) == 0
    assert "  G: translation map -> photo (paired input), unet, " in capsys.readouterr().out


def test_a_folder_is_picked_by_spec_not_by_file_name(tmp_path, capsys):
    folder = tmp_path / "models"
    folder.mkdir()
    forward = _respec(tiny_translator(tmp_path / "x.safetensors", ("cats", "dogs")), folder / "one.safetensors",
                      direction="AtoB")
    back = _respec(tiny_translator(tmp_path / "y.safetensors", ("dogs", "cats")), folder / "two.safetensors",
                   direction="BtoA")
    tiny_generator(folder / "digits.safetensors")
    assert resolve_model(str(folder), "AtoB", task=("translation", "super-resolution")) == forward
    assert resolve_model(str(folder), "BtoA", task="translation") == back
    assert resolve_model(str(folder), task="generation") == folder / "digits.safetensors"
    # the reverse of a file is found by its spec too (export-hub, evaluate-translation, --direction BtoA)
    assert resolve_model(str(forward), "BtoA") == back
    # two models that fit: one line, the folder and the files named
    tiny_sr(folder / "sr.safetensors")
    photo = _photo(tmp_path / "p.png")
    assert translate_main([*CPU, str(photo), "--model", str(folder)]) == 2
    assert capsys.readouterr().err == (f"error: {folder}: holds 2 A -> B models (one.safetensors, sr.safetensors); "
                                       "pass one of the files\n")
    # no model of the task: one line
    empty = tmp_path / "gan"
    empty.mkdir()
    tiny_generator(empty / "G.safetensors")
    (empty / "broken.safetensors").write_bytes(b"junk")
    assert translate_main([*CPU, str(photo), "--model", str(empty)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {empty}: holds no translation or super-resolution model, only G.safetensors "
                   "(generation)\n")
    (empty / "G.safetensors").unlink()
    assert translate_main([*CPU, str(photo), "--model", str(empty)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {empty}: holds no readable model file ({empty / 'broken.safetensors'}: not a "
                          "readable safetensors file") and err.count("\n") == 1


def test_app_offers_paired_models_by_spec_not_recipe(tmp_path):
    from translate.web_ui import Shelf, Upload

    folder = tmp_path / "models"
    folder.mkdir()
    _tiny_unet(folder / "sketches.safetensors", paired_input=True)  # no recipe named
    _respec(tiny_translator(tmp_path / "t.safetensors", ("photo", "art")), folder / "art.safetensors",
            recipe="pix2pix", paired_input=False)  # a pix2pix-trained style model, its spec says so
    shelf = Shelf([folder], device="cpu")
    assert read_spec(folder / "sketches.safetensors").recipe is None
    assert shelf.choices("translation", paired=True) == ["labels → facades (sketches)"]
    assert shelf.choices("translation", paired=False) == ["photo → art (art)"]
    assert shelf.choices("translation") == ["photo → art (art)", "labels → facades (sketches)"]
    photo = _photo(tmp_path / "p.png", (20, 13))
    assert shelf.paired(Upload(str(photo), "p.png"), None, "labels → facades (sketches)").shape == (13, 20, 3)
    # an .onnx export carries the spec, so it goes to the same tab
    from translate.cli.export import main as export_main

    assert export_main([str(folder / "sketches.safetensors")]) == 0
    shelf = Shelf([folder], device="cpu")
    assert shelf.choices("translation", paired=True) == ["labels → facades (sketches) [onnx]",
                                                         "labels → facades (sketches)"]


def test_old_specs_load_with_the_legacy_rule(tmp_path):
    """Files of version 0.1 lack the new fields; their values follow from what the files hold."""
    old = {k: None for k in NEW_FIELDS}
    unet = _respec(_tiny_unet(tmp_path / "u.safetensors"), tmp_path / "facades.safetensors", recipe="pix2pix", **old)
    plain_unet = _respec(unet, tmp_path / "other.safetensors", recipe=None)
    pair_b = _respec(tiny_translator(tmp_path / "x.safetensors"), tmp_path / "style_B2A.safetensors", **old)
    pair_a = _respec(tiny_translator(tmp_path / "y.safetensors"), tmp_path / "style_A2B.safetensors", **old)
    sr = _respec(tiny_sr(tmp_path / "s.safetensors"), tmp_path / "sr.safetensors", **old)
    assert not set(NEW_FIELDS) & set(_spec_text(unet))
    expected = {unet: (1, True, "AtoB"), plain_unet: (1, False, "AtoB"), pair_b: (2, False, "BtoA"),
                pair_a: (2, False, "AtoB"), sr: (1, False, "AtoB")}
    for path, (min_multiples, paired, way) in expected.items():
        _, spec = load_model(path)
        assert (spec.min_multiples, spec.paired_input, spec.way) == (min_multiples, paired, way), path.name
    assert read_spec(unet).min_side == 32 and read_spec(pair_a).min_side == 8
    # the bundled files, some written before the new fields (monet, facades) and some after (sr_x4, vangogh)
    files = sorted(bundled_models_dir().glob("*.safetensors"))
    bundled = {p.stem: read_spec(p) for p in files}
    assert any(set(NEW_FIELDS) & set(_spec_text(p)) for p in files)
    assert not all(set(NEW_FIELDS) & set(_spec_text(p)) for p in files)
    assert [name for name, spec in sorted(bundled.items()) if spec.paired_input] == ["facades"]
    assert [name for name, spec in sorted(bundled.items()) if spec.way == "BtoA"] == ["monet_B2A", "vangogh_B2A"]
    assert bundled["facades"].min_side == 256 and bundled["vangogh_A2B"].min_side == 8


@pytest.mark.parametrize("kind, change, words", [
    ("translator", {"min_multiples": 0}, "'min_multiples' must be in [1, 4], got 0"),
    ("translator", {"min_multiples": 5}, "'min_multiples' must be in [1, 4], got 5"),
    ("translator", {"min_multiples": "2"}, "'min_multiples' must be an integer"),
    ("unet", {"size_multiple": 1024, "min_multiples": 4}, "'min_multiples' times size_multiple (1024) must be at most"),
    ("translator", {"paired_input": "yes"}, "'paired_input' must be true or false, got \"yes\""),
    ("translator", {"paired_input": 1}, "'paired_input' must be true or false, got 1"),
    ("sr", {"paired_input": True}, "'paired_input' is for translators, not a super-resolution model"),
    ("translator", {"direction": "sideways"}, "'direction' must be one of AtoB, BtoA, got \"sideways\""),
    ("translator", {"direction": ["AtoB"]}, "'direction' must be one of AtoB, BtoA"),
])
def test_bad_new_fields_are_one_line_naming_the_file(tmp_path, capsys, kind, change, words):
    source = {"translator": lambda: tiny_translator(tmp_path / "t.safetensors"),
              "sr": lambda: tiny_sr(tmp_path / "s.safetensors"),
              "unet": lambda: _tiny_unet(tmp_path / "u.safetensors")}[kind]()
    bad = _respec(source, tmp_path / "bad.safetensors", **change)
    with pytest.raises(ModelFileError) as err:
        read_spec(bad)
    assert str(err.value).startswith(f"{bad}: model spec field ") and words in str(err.value)
    assert translate_main([*CPU, str(_photo(tmp_path / "p.png")), "--model", str(bad)]) == 2
    assert capsys.readouterr().err == f"error: {err.value}\n"


def test_serving_modules_load_no_training_module():
    code = ("import sys, json\n"
            "import translate.pipeline, translate.zoo, translate.web_ui_video, translate.cli.info\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('translate.training'))))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(Path(__file__).parent.parent), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == []


def test_app_batch_runs_the_command_lines_pipeline_and_names_uploads_not_server_paths(tmp_path, monkeypatch):
    import translate.pipeline
    from translate.web_ui import Shelf, Upload

    folder = tmp_path / "models"
    folder.mkdir()
    tiny_sr(folder / "sr_x2.safetensors")
    shelf = Shelf([folder], device="cpu", out_dir=tmp_path / "results")
    first, second = _photo(tmp_path / "upload1.png", (9, 7)), _photo(tmp_path / "upload2.png", (9, 7))
    uploads = [Upload(str(first), "cat.png"), Upload(str(second), "cat.png")]
    archive, log = shelf.batch(uploads, "x2 (sr_x2)")
    assert log.splitlines() == ["skipped cat.png: another file gives cat_x2.png too; rename one",
                                "1 written, 1 skipped, 0 failed"]

    def full_disk(path, *args, **kwargs):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(translate.pipeline, "write_image", full_disk)
    archive, log = shelf.batch(uploads[:1], "x2 (sr_x2)")
    assert archive is None and log.splitlines() == ["error: cat_x2.png: No space left on device",
                                                    "0 written, 0 skipped, 1 failed"]
    # the command line names the paths
    model = tmp_path / "models" / "sr_x2.safetensors"
    lines = []
    from translate.inference import Translator
    from translate.pipeline import Job, Limits, translate_files

    job = Job(first, tmp_path / "o.png", str(first))
    tally = translate_files(Translator.from_file(model, device="cpu"), [job], Limits(10**6, 10**6), lines.append)
    assert tally.line() == "0 written, 0 skipped, 1 failed"
    assert lines == [f"error: {tmp_path / 'o.png'}: No space left on device"]
    # the limits are parameters: the output limit of one front end is not another's
    assert translate_files(Translator.from_file(model, device="cpu"), [job], Limits(10**6, 4 * 63 - 1),
                           lines.append).failed == 1
    assert lines[-1] == (f"error: {first}: the x2 output would be 18x14, over the limit of 0 MP; --resize it "
                         "smaller first")


def test_a_folder_without_model_files_does_not_hide_a_bundled_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vangogh").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "vangogh" / "painting.png")  # a user's paintings folder
    assert resolve_model("vangogh") == bundled_models_dir() / "vangogh_A2B.safetensors"
    assert "vangogh/ in this folder holds no model file; using the bundled vangogh" in capsys.readouterr().err
    assert resolve_model("vangogh", "BtoA") == bundled_models_dir() / "vangogh_B2A.safetensors"
    # a folder that holds models is what the user meant, and the command says so
    shutil.copy(bundled_models_dir() / "sr_x4.safetensors", tmp_path / "vangogh" / "mine.safetensors")
    assert resolve_model("vangogh") == Path("vangogh") / "mine.safetensors"
    assert "using the folder vangogh/ here, not the bundled model vangogh" in capsys.readouterr().err
