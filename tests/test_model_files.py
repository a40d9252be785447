"""Model files are untrusted input: every spec field checked, nothing hangs, nothing silently wrong.

The hostile files are real tiny models (and the bundled ones) with their spec edited, as someone sharing a
model file could do. Every command must answer one line naming the file and exit with code 2.
"""

import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_generator, tiny_sr, tiny_translator
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from translate.checkpoint import INCOMPLETE, load_model, read_spec, remove_interrupted_writes
from translate.errors import ImageError, ModelFileError
from translate.zoo import bundled_models_dir


def _spec_of(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["spec"])


def with_spec(source: Path, target: Path, spec: object) -> Path:
    """A copy of the model file `source` at `target` whose spec metadata is `spec` (a dict or list is written
    as JSON, a str as it is)."""
    with safe_open(str(source), framework="pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is not iterable
    metadata["spec"] = spec if isinstance(spec, str) else json.dumps(spec)
    save_file(tensors, str(target), metadata=metadata)
    return target


def edited(source: Path, target: Path, **changes) -> Path:
    spec = _spec_of(source)
    for key, value in changes.items():
        if value is _DROP:
            spec.pop(key, None)
        else:
            spec[key] = value
    return with_spec(source, target, spec)


_DROP = object()


@pytest.fixture
def models(tmp_path) -> dict[str, Path]:
    folder = tmp_path / "good"
    folder.mkdir()
    return {"translator": tiny_translator(folder / "t.safetensors"), "sr": tiny_sr(folder / "sr.safetensors"),
            "generator": tiny_generator(folder / "g.safetensors", labels=("a", "b", "c"))}


def _one_line_error(capsys, path: Path, *texts: str) -> str:
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and str(path) in lines[0], err
    assert "Traceback" not in err and all(t in lines[0] for t in texts), err
    return lines[0]


def test_bundled_models_pass_the_validator():
    paths = sorted(bundled_models_dir().glob("*.safetensors"))
    assert len(paths) == 7
    for path in paths:
        assert read_spec(path).arch in ("resnet", "srresnet", "dcgan", "unet")
    net, spec = load_model(bundled_models_dir() / "sr_x4.safetensors")
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 5, 7)).shape == (1, 3, 20, 28) and spec.scale == 4


# The cases the reliability run found, and more: (model, spec changes, words the error must hold)
HOSTILE = [
    ("translator", "[1, 2]", "must be a JSON object"),
    ("translator", "null", "must be a JSON object"),
    ("translator", "{not json", "not valid JSON"),
    ("translator", {"size_multiple": 0}, "'size_multiple' must be in [1, 64]"),
    ("translator", {"size_multiple": 1}, "promises"),  # the ResNet needs 4
    ("translator", {"value_range": ["a", "b"]}, "'value_range' must be [low, high]"),
    ("translator", {"value_range": [1, -1]}, "'value_range'"),
    ("translator", {"domains": ["in_x", "../../../tmp/escaped"]}, "'domains[1]'", "file name"),
    ("translator", {"domains": ["a", "b\nc"]}, "'domains[1]'"),
    ("translator", {"arch_kwargs": {"ngf": 8, "n_blocks": 1, "upsample": "resize"}}, "weights do not fit"),
    ("translator", {"arch_kwargs": {"ngf": 4, "n_blocks": 1, "upsample": "resize", "evil": 1}}, "'arch_kwargs.evil'"),
    ("translator", {"arch_kwargs": {"ngf": 4, "n_blocks": 1, "upsample": "sideways"}}, "'arch_kwargs'"),
    ("translator", {"arch": "os.system"}, "unknown architecture"),
    ("translator", {"in_channels": 1}, "'in_channels'"),
    ("translator", {"scale": 2}, "'scale' must be 1"),
    ("sr", {"scale": 1}, "into 1x3x2x4, but its spec promises 1x3x1x2"),  # the network is x2
    ("sr", {"scale": 4}, "promises 1x3x4x8"),
    ("sr", {"scale": 3}, "promises"),
    ("generator", {"image_size": 32}, "promises"),
    ("generator", {"labels": ["a", "b"]}, "'labels'"),
    ("generator", {"latent_dim": 9}, "'latent_dim'"),
    ("generator", {"latent_dim": _DROP}, "'latent_dim' is missing"),
]


@pytest.mark.parametrize("kind, change, words", [(kind, change, tuple(words)) for kind, change, *words in HOSTILE])
def test_hostile_spec_is_one_line_and_exit_2(tmp_path, models, capsys, kind, change, words):
    from translate.cli.generate import main as generate_main
    from translate.cli.translate import main as translate_main

    bad = tmp_path / "bad.safetensors"
    with_spec(models[kind], bad, change) if isinstance(change, str) else edited(models[kind], bad, **change)
    with pytest.raises(ModelFileError) as err:
        load_model(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    if kind == "generator":
        code = generate_main([str(bad), "--out", str(tmp_path / "grid.png")])
    else:
        Image.new("RGB", (9, 7)).save(tmp_path / "in.png")
        code = translate_main([str(tmp_path / "in.png"), "--model", str(bad), "--out", str(tmp_path / "out")])
    assert code == 2
    _one_line_error(capsys, bad, *words)
    assert not (tmp_path / "out").exists() and not (tmp_path / "grid.png").exists()


def test_every_command_refuses_a_bad_model_with_exit_2(tmp_path, models, capsys, samples):
    from translate.cli.evaluate import main_gan, main_sr, main_translation
    from translate.cli.export import main as export_main
    from translate.cli.generate import main as generate_main
    from translate.cli.info import main as info_main

    bad_t = edited(models["translator"], tmp_path / "bad_t.safetensors", size_multiple=0)
    bad_sr = edited(models["sr"], tmp_path / "bad_sr.safetensors", scale=4)
    bad_g = edited(models["generator"], tmp_path / "bad_g.safetensors", image_size=8)
    photos = samples / "photos_vangogh"
    runs = [
        (bad_t, export_main, [str(bad_t), "--out", str(tmp_path / "x.onnx")]),
        (bad_t, main_translation, ["--model", str(bad_t), "--domainA", str(photos / "photos"), "--domainB",
                                   str(photos / "vangogh"), "--test", str(photos / "photos")]),
        (bad_sr, main_sr, ["--model", str(bad_sr), "--sets", str(samples / "sr" / "Set5")]),
        (bad_g, main_gan, [str(bad_g), "--n", "10"]),
        (bad_g, generate_main, [str(bad_g), "--out", str(tmp_path / "g.png")]),
    ]
    for path, main, argv in runs:
        assert main(argv) == 2, main
        _one_line_error(capsys, path)
    assert info_main(["--models", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert all(f"unreadable: {p}" in out for p in (bad_t, bad_sr, bad_g)) and "Traceback" not in out


@pytest.fixture(scope="module")
def onnx_translator(tmp_path_factory) -> Path:
    """A tiny translator as .onnx with its spec, as export-onnx writes it; through torch's TorchScript exporter,
    20 times quicker here than the dynamo one export-onnx uses (tests/test_onnx.py covers that one)."""
    import io
    import warnings

    import onnx

    from translate.onnx import metadata

    folder = tmp_path_factory.mktemp("onnx")
    net, spec = load_model(tiny_translator(folder / "t.safetensors"))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, torch.zeros(1, 3, 8, 8), buffer, dynamo=False, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": {0: "n", 2: "h", 3: "w"}}, opset_version=18)
    model = onnx.load_from_string(buffer.getvalue())
    for key, value in metadata(spec).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(folder / "t.onnx"))
    return folder / "t.onnx"


def _onnx_with_spec(source: Path, target: Path, text: str) -> Path:
    import onnx

    model = onnx.load(str(source))
    for entry in model.metadata_props:
        if entry.key == "gan_translate_spec":
            entry.value = text
    onnx.save(model, str(target))
    return target


def test_hostile_onnx_specs(tmp_path, onnx_translator, capsys):
    from translate.cli.translate import main as translate_main

    spec = json.loads(next(e.value for e in __import__("onnx").load(str(onnx_translator)).metadata_props
                           if e.key == "gan_translate_spec"))
    Image.new("RGB", (9, 7)).save(tmp_path / "in.png")
    cases = [("{oops", "not valid JSON"), ("[1, 2]", "must be a JSON object"),
             (json.dumps({**spec, "scale": 4}), "'scale' must be 1"),
             (json.dumps({**spec, "task": "super-resolution", "scale": 4}), "promises"),
             (json.dumps({**spec, "size_multiple": 1}), "promises"),
             (json.dumps({**spec, "domains": ["a", "/etc/x"]}), "'domains[1]'")]
    for i, (text, words) in enumerate(cases):
        bad = _onnx_with_spec(onnx_translator, tmp_path / f"bad{i}.onnx", text)
        code = translate_main([str(tmp_path / "in.png"), "--model", str(bad), "--out", str(tmp_path / "out")])
        assert code == 2, text
        _one_line_error(capsys, bad, words)
    assert not (tmp_path / "out").exists()


def test_torch_free_consumer_refuses_hostile_specs(tmp_path, onnx_translator):
    import subprocess
    import sys

    spec = json.loads(next(e.value for e in __import__("onnx").load(str(onnx_translator)).metadata_props
                           if e.key == "gan_translate_spec"))
    Image.new("RGB", (9, 7)).save(tmp_path / "in.png")
    consumer = Path(__file__).parent.parent / "export" / "onnx_translate.py"
    cases = [("{oops", "not valid JSON"), ("[1, 2]", "does not describe"),
             (json.dumps({**spec, "task": "super-resolution", "scale": 4}), "but its spec promises 32x48 (scale 4)"),
             (json.dumps({**spec, "size_multiple": 0}), "'size_multiple'"),
             (json.dumps({**spec, "value_range": ["a", "b"]}), "'value_range'")]
    for i, (text, words) in enumerate(cases):
        bad = _onnx_with_spec(onnx_translator, tmp_path / f"bad{i}.onnx", text)
        done = subprocess.run([sys.executable, str(consumer), str(bad), str(tmp_path / "in.png"),
                               str(tmp_path / "out.png")], capture_output=True, text=True)
        assert done.returncode != 0 and done.stderr.count("\n") == 1 and words in done.stderr, done.stderr
        assert done.stderr.startswith(f"error: {bad}: ")
    assert not (tmp_path / "out.png").exists()


@pytest.fixture
def alarm():
    """Fail instead of hanging: a read that blocks on a FIFO is interrupted after 10 s."""

    def hung(*_):
        raise TimeoutError("blocked on a FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_fifo_model_and_fifo_image_are_refused_without_reading(tmp_path, models, capsys, alarm):
    from translate.cli.translate import main as translate_main
    from translate.data.io import read_image

    for name in ("pipe.safetensors", "pipe.onnx", "pipe.png"):
        os.mkfifo(tmp_path / name)
    Image.new("RGB", (9, 7)).save(tmp_path / "in.png")
    for name in ("pipe.safetensors", "pipe.onnx"):
        assert translate_main([str(tmp_path / "in.png"), "--model", str(tmp_path / name)]) == 2
        _one_line_error(capsys, tmp_path / name, "is a named pipe (FIFO)")
    with pytest.raises(ModelFileError, match="named pipe"):
        read_spec(tmp_path / "pipe.safetensors")
    with pytest.raises(ImageError, match="is a named pipe"):
        read_image(tmp_path / "pipe.png")
    assert translate_main([str(tmp_path / "pipe.png"), "--model", str(models["translator"]),
                           "--out", str(tmp_path / "out")]) == 2
    assert "is a named pipe (FIFO), expected an image file" in capsys.readouterr().err
    with pytest.raises(ImageError, match="is a device"):
        read_image("/dev/zero")


def test_app_lists_a_bad_spec_as_unreadable_and_serves_the_rest(tmp_path, models):
    from translate.web_ui import Shelf, Upload

    folder = models["translator"].parent
    edited(models["translator"], folder / "lying.safetensors", scale=3)
    with_spec(models["sr"], folder / "list.safetensors", "[1, 2]")
    os.mkfifo(folder / "pipe.safetensors")
    shelf = Shelf([folder], device="cpu")
    assert sorted(e.path.name for e in shelf.entries) == ["g.safetensors", "sr.safetensors", "t.safetensors"]
    assert len(shelf.problems) == 3
    page = shelf.unreadable()
    assert "lying.safetensors" in page and "list.safetensors" in page and "pipe.safetensors" in page
    assert str(tmp_path) not in page  # no server paths in the page
    assert str(tmp_path) in Shelf([folder], device="cpu", debug=True).unreadable()
    Image.new("RGB", (9, 7)).save(tmp_path / "in.png")
    out = shelf.style(Upload(str(tmp_path / "in.png"), "in.png"), shelf.choices("translation")[0])
    assert out.shape == (7, 9, 3)


def test_app_generate_refuses_huge_seeds_with_a_clear_message(tmp_path, models):
    from translate.errors import UserError
    from translate.web_ui import Shelf

    shelf = Shelf([models["generator"].parent], device="cpu")
    label = shelf.choices("generation")[0]
    for seed, words in ((1e30, "out of range"), (float("inf"), "whole number"), (float("nan"), "whole number"),
                        (None, "whole number")):
        with pytest.raises(UserError, match=words):
            shelf.generate(label, seed, "", 4)
    grid, _ = shelf.generate(label, 2**64 - 5, "", 4)
    assert grid.dtype == np.uint8


def test_generate_cli_huge_seed(tmp_path, models, capsys):
    from translate.cli.generate import main as generate_main

    assert generate_main([str(models["generator"]), "--out", str(tmp_path / "g.png"), "--seed", str(10**30)]) == 2
    err = capsys.readouterr().err
    assert err == "error: seed of 31 digits is out of range; seeds are integers from -2**63 to 2**64 - 1\n"
    assert not (tmp_path / "g.png").exists()


def test_app_footer_and_errors_hide_server_paths(tmp_path, models):
    from translate.web_ui import build_app

    app = build_app([models["translator"].parent], device="cpu")
    config = json.dumps(app.config, default=str)
    assert str(tmp_path) not in config
    debug = build_app([models["translator"].parent], device="cpu", debug=True)
    assert str(tmp_path) in json.dumps(debug.config, default=str)


def test_interrupted_writes_are_named_and_removed_on_resume(tmp_path):
    from toy_recipe import ToyConfig, ToyRecipe

    from translate.training.config import LoopConfig
    from translate.training.loop import train

    run = tmp_path / "run"
    loop = dict(out=str(run), steps=4, batch_size=4, workers=0, progress=False, tensorboard=False,
                checkpoint_every=100, sample_every=100, log_every=100)
    train(ToyRecipe, ToyConfig(), LoopConfig(**loop))
    leftovers = [run / ".checkpoint.safetensors.abcd1234.tmp", run / "models" / f".G.safetensors{INCOMPLETE}x1y2.tmp",
                 run / "samples" / ".step_0000004.png.tmp-4242"]
    for p in leftovers:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"half a file")
    keep = run / "models" / "notes.tmp"
    keep.write_text("mine")
    train(ToyRecipe, ToyConfig(), LoopConfig(**{**loop, "steps": 6}), resume=True)
    assert not any(p.exists() for p in leftovers) and keep.exists()
    assert read_spec(run / "models" / "G.safetensors").step == 6
    assert remove_interrupted_writes(tmp_path / "missing") == []


def test_a_kill_between_state_and_model_writes_leaves_models_behind(tmp_path, monkeypatch):
    from toy_recipe import ToyConfig, ToyRecipe

    import translate.training.loop as loop_module
    from translate.checkpoint import load_state
    from translate.training.config import LoopConfig

    run = tmp_path / "run"
    loop = dict(out=str(run), steps=4, batch_size=4, workers=0, progress=False, tensorboard=False,
                checkpoint_every=100, sample_every=100, log_every=100)
    loop_module.train(ToyRecipe, ToyConfig(), LoopConfig(**loop))

    def killed(*_args, **_kwargs):
        raise SystemExit("killed")

    monkeypatch.setattr(loop_module, "save_model", killed)
    with pytest.raises(SystemExit):
        loop_module.train(ToyRecipe, ToyConfig(), LoopConfig(**{**loop, "steps": 6}), resume=True)
    assert load_state(run / "checkpoint.safetensors")["step"] == 6
    assert read_spec(run / "models" / "G.safetensors").step == 4  # behind the checkpoint, never ahead


def test_write_errors_say_disk_full_and_name_the_file(tmp_path, monkeypatch):
    import errno

    import translate.data.io as io_module

    class FullDisk:
        def __init__(self, *_args, **_kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *_):
            return False

        def write(self, _data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io_module, "open", FullDisk, raising=False)
    target = tmp_path / "out.png"
    with pytest.raises(ImageError) as err:
        io_module.write_image(target, np.zeros((4, 4, 3), np.float32), bits=16)
    assert str(err.value) == f"{target}: could not write it (disk full)"
    assert list(tmp_path.iterdir()) == []  # no temporary file left


def test_corrupt_exif_prints_no_pillow_warnings(tmp_path, capfd):
    from translate.data.io import read_image

    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "x" * 40
    data = bytearray(exif.tobytes())
    data[-60:] = b"\xff" * 60  # the description's bytes and offsets now point past the block
    path = tmp_path / "bad_exif.jpg"
    Image.new("RGB", (6, 4), (200, 10, 10)).save(path, exif=bytes(data))
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("error")  # any warning that leaked would raise here
        decoded = read_image(path)
    assert decoded.pixels.shape[2] == 3
    captured = capfd.readouterr()
    assert "EXIF" not in captured.err and "EXIF" not in captured.out


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP", "TIFF"])
def test_multi_frame_inputs_say_which_frame_is_used(tmp_path, models, capsys, fmt):
    from translate.cli.translate import main as translate_main
    from translate.data.io import read_image

    frames = [Image.new("RGB", (9, 7), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / f"anim.{fmt.lower()}"
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:])
    decoded = read_image(path)
    assert decoded.frames == 3 and decoded.pixels[0, 0, 0] > 0.9 and decoded.pixels[0, 0, 2] < 0.1  # frame 0: red
    assert translate_main([str(path), "--model", str(models["translator"]), "--out", str(tmp_path / "out")]) == 0
    assert f"note: {path}: has 3 frames (animated or multi-page); translating the first only" in capsys.readouterr().err


def test_negative_tile_blames_tile(tmp_path, models, capsys):
    from translate.cli.translate import main as translate_main

    Image.new("RGB", (9, 7)).save(tmp_path / "in.png")
    assert translate_main([str(tmp_path / "in.png"), "--model", str(models["translator"]), "--tile", "-5"]) == 2
    err = capsys.readouterr().err
    assert "--tile must be 0 (never tile) or a positive side in pixels, got -5" in err and "overlap" not in err


# Fuzzing: every field of a valid spec, and every architecture option, replaced by values of the wrong type,
# out of range or hostile, removed, and joined by extra ones. Each mutant must give a one-line ModelFileError
# naming the file, or an output of the right size (the same output where the change cannot matter). Hostile
# values too: JSON nested 100,000 levels deep (_DEEP, written as such by _text), terminal escapes, a span of 1e-300.
_DEEP = "@100000 levels@"
_VALUES = [None, True, -1, 0, 3, 2**70, 0.5, float("nan"), float("-inf"), "x", "../evil", "a\nb", ["a", "b"], [1, 2],
           {}, _DEEP, "\x1b]0;title\x07", [0, 1e-300]]


def _text(spec: dict) -> str:
    return json.dumps(spec).replace(json.dumps(_DEEP), "[" * 100000 + "]" * 100000)
_INERT = ("recipe", "step", "version", "notes", "domains", "extra")


def _mutants(spec: dict):
    for key in [*spec, "extra"]:
        if key != "extra":
            yield key, {k: v for k, v in spec.items() if k != key}
        for value in _VALUES:
            yield key, {**spec, key: value}
    for key in [*spec["arch_kwargs"], "extra"]:
        kwargs = spec["arch_kwargs"]
        if key != "extra":
            yield "arch_kwargs", {**spec, "arch_kwargs": {k: v for k, v in kwargs.items() if k != key}}
        for value in _VALUES:
            yield "arch_kwargs", {**spec, "arch_kwargs": {**kwargs, key: value}}


def _run(path: Path, spec: dict):
    """The model's output on a fixed input, through what translate and generate use."""
    from translate.inference import Translator
    from translate.sampling import generate, latents

    if spec.get("task") == "generation":
        net, loaded = load_model(path, task="generation")
        labels = torch.arange(4) % len(loaded.labels) if loaded.labels else None
        return generate(net, loaded, latents(loaded, [0, 1, 2, 3]), labels).numpy()
    pixels = np.random.default_rng(0).random((7, 9, 3), dtype=np.float32)
    return Translator.from_file(path, device="cpu", tile=0)(pixels)


@pytest.mark.filterwarnings("error::UserWarning")  # no warning lines may leak either
def test_fuzz_every_spec_field(tmp_path, models):
    tried = refused = ran = 0
    for kind, source in models.items():
        original = _spec_of(source)
        expected = _run(source, original)
        for i, (field, mutant) in enumerate(_mutants(original)):
            path = with_spec(source, tmp_path / f"{kind}{i}.safetensors", _text(mutant))
            tried += 1
            try:
                out = _run(path, mutant)
            except ModelFileError as err:
                message = str(err)
                assert message.startswith(f"{path}: ") and "\n" not in message, (kind, field, message)
                refused += 1
                continue
            ran += 1
            assert out.shape == expected.shape, (kind, field, mutant)
            if field in _INERT:
                assert np.array_equal(out, expected), (kind, field, mutant)
            path.unlink()
    print(f"fuzz: {tried} mutants, {refused} refused with one line, {ran} ran with the right size")
    assert tried > 500 and refused > 0.8 * tried


@pytest.mark.filterwarnings("error::UserWarning")
def test_fuzz_onnx_spec_fields(tmp_path, onnx_translator):
    import onnx

    from translate.inference import Translator

    model = onnx.load(str(onnx_translator))
    entry = next(e for e in model.metadata_props if e.key == "gan_translate_spec")
    original = json.loads(entry.value)
    pixels = np.random.default_rng(0).random((7, 9, 3), dtype=np.float32)
    expected = Translator.from_file(onnx_translator, tile=0)(pixels)
    tried = refused = 0
    for i, (field, mutant) in enumerate(_mutants(original)):
        if field == "arch_kwargs":
            continue  # an export's graph does not depend on them; the top-level fields are what serving reads
        entry.value = _text(mutant)
        path = tmp_path / f"m{i}.onnx"
        path.write_bytes(model.SerializeToString())
        tried += 1
        try:
            out = Translator.from_file(path, tile=0)(pixels)
        except ModelFileError as err:
            assert str(err).startswith(f"{path}: ") and "\n" not in str(err), (field, str(err))
            refused += 1
            continue
        assert out.shape == expected.shape, (field, mutant)
        if field in _INERT:
            assert np.array_equal(out, expected), (field, mutant)
    print(f"onnx fuzz: {tried} mutants, {refused} refused with one line")
    assert tried > 200 and refused > 0.8 * tried


def test_fuzz_non_finite_weights(tmp_path, models):
    """Every float tensor of every model, one value made NaN, +inf or -inf: refused at load naming it."""
    tried = 0
    for kind, source in models.items():
        names = [n for n, t in load_model(source)[0].state_dict().items() if t.is_floating_point()]
        for i, name in enumerate(names):
            for j, value in enumerate((float("nan"), float("inf"), float("-inf"))):
                bad = _with_tensors(source, tmp_path / f"{kind}{i}_{j}.safetensors",
                                    lambda d, n=name, v=value, k=i: d[n].view(-1).__setitem__(k % d[n].numel(), v))
                with pytest.raises(ModelFileError) as err:
                    _run(bad, _spec_of(source))
                message = str(err.value)
                assert message.startswith(f"{bad}: the tensor {name!r} holds 1 NaN") and "\n" not in message
                bad.unlink()
                tried += 1
    assert tried > 50


def test_training_refuses_domain_names_that_model_files_could_not_hold(tmp_path, samples, capsys):
    from translate.cli.train import main_cyclegan, main_pix2pix

    photos = samples / "photos_vangogh"
    assert main_cyclegan(["--domainA", str(photos / "photos"), "--domainB", str(photos / "vangogh"), "--names", "a",
                          "../b", "--out", str(tmp_path / "run"), "--steps", "1"]) == 2
    assert "names[1]: '../b'" in capsys.readouterr().err.replace('"', "'")
    assert main_pix2pix(["--data", str(samples / "edges2shoes"), "--names", "edges", "sh\x00es", "--out",
                         str(tmp_path / "run2"), "--steps", "1"]) == 2
    assert "names[1]" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (tmp_path / "run2").exists()


@pytest.mark.parametrize("flags, shown", [([], False), (["--debug"], True)])
def test_app_sends_exception_text_to_the_browser_only_with_debug(monkeypatch, flags, shown):
    import translate.web_ui
    from translate.cli.web import main

    launched = {}

    class App:
        def launch(self, **kwargs):
            launched.update(kwargs)

    def build_app(folders, device, debug, **kwargs):
        launched["debug"] = debug
        return App()

    monkeypatch.setattr(translate.web_ui, "build_app", build_app)
    assert main(flags) == 0
    assert launched["show_error"] is shown and launched["debug"] is shown


def test_weights_of_the_wrong_type_are_refused(tmp_path, models):
    source = models["translator"]
    with safe_open(str(source), framework="pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is not iterable
    name = next(k for k in tensors if k.endswith("weight"))
    half = {k: v.half() for k, v in tensors.items()}
    save_file(half, str(tmp_path / "half.safetensors"), metadata=metadata)
    assert load_model(tmp_path / "half.safetensors")[1].task == "translation"  # half-precision weights load
    tensors[name] = tensors[name].to(torch.int32)
    save_file(tensors, str(tmp_path / "ints.safetensors"), metadata=metadata)
    with pytest.raises(ModelFileError, match=f"the tensor '{name}' is of type I32, expected a float type"):
        load_model(tmp_path / "ints.safetensors")


# Hostile files, names and kills: each test builds its hostile input.


def _loop_onnx(path: Path, spec_text: str, op: str = "Loop", domain: str = "") -> Path:
    """A graph that passes its input through a Loop of 2**62 iterations (or through one node `op` of `domain`),
    with a valid spec: onnxruntime would run it for ever."""
    import onnx
    from onnx import TensorProto, helper

    image = helper.make_tensor_value_info
    if op == "Loop":
        body = helper.make_graph(
            [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
             helper.make_node("Identity", ["v_in"], ["v_out"])],
            "body", [image("i", TensorProto.INT64, []), image("cond_in", TensorProto.BOOL, []),
                     image("v_in", TensorProto.FLOAT, None)],
            [image("cond_out", TensorProto.BOOL, []), image("v_out", TensorProto.FLOAT, None)])
        nodes = [helper.make_node("Constant", [], ["n"], value=helper.make_tensor("n", TensorProto.INT64, [], [2**62])),
                 helper.make_node("Constant", [], ["go"], value=helper.make_tensor("go", TensorProto.BOOL, [], [True])),
                 helper.make_node("Loop", ["n", "go", "input"], ["output"], body=body)]
    else:
        nodes = [helper.make_node(op, ["input"], ["output"], domain=domain)]
    graph = helper.make_graph(nodes, "g", [image("input", TensorProto.FLOAT, ["n", 3, "h", "w"])],
                              [image("output", TensorProto.FLOAT, ["n", 3, "h", "w"])])
    opsets = [helper.make_opsetid("", 18), *([helper.make_opsetid(domain, 1)] if domain else [])]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=9)
    entry = model.metadata_props.add()
    entry.key, entry.value = "gan_translate_spec", spec_text
    onnx.save(model, str(path))
    return path


def test_onnx_control_flow_and_foreign_operations_are_refused_before_any_run(tmp_path, onnx_translator, capsys,
                                                                              alarm):
    from translate.cli.info import main as info_main
    from translate.cli.translate import main as translate_main
    from translate.onnx import session
    from translate.web_ui import Shelf

    spec = next(e.value for e in __import__("onnx").load(str(onnx_translator)).metadata_props
                if e.key == "gan_translate_spec")
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "good.onnx").write_bytes(onnx_translator.read_bytes())
    bad = [_loop_onnx(folder / "loop.onnx", spec), _loop_onnx(folder / "custom.onnx", spec, "Evil", "com.evil"),
           _loop_onnx(folder / "scan.onnx", spec, "If")]
    Image.new("RGB", (9, 7)).save(tmp_path / "in.png")
    for path, op in zip(bad, ("Loop", "com.evil:Evil", "If")):
        with pytest.raises(ModelFileError, match=f"operation {op}, which export-onnx never writes"):
            session(path)
        assert translate_main([str(tmp_path / "in.png"), "--model", str(path), "--out", str(tmp_path / "o")]) == 2
        _one_line_error(capsys, path, "refused without running it")
    assert info_main(["--models", str(folder)]) == 2  # lists, does not hang
    out = capsys.readouterr().out
    assert "good.onnx: translation" in out and out.count("unreadable:") == 3
    shelf = Shelf([folder], device="cpu")
    assert [e.path.name for e in shelf.entries] == ["good.onnx"] and len(shelf.problems) == 3
    assert not (tmp_path / "o").exists()


def test_the_onnx_promise_check_has_a_time_limit(tmp_path, onnx_translator, alarm):
    import onnxruntime as ort

    from translate.onnx import OnnxNet

    spec = next(e.value for e in __import__("onnx").load(str(onnx_translator)).metadata_props
                if e.key == "gan_translate_spec")
    path = _loop_onnx(tmp_path / "loop.onnx", spec)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])  # past check_graph, as if allowed
    with pytest.raises(ModelFileError, match=r"ran over 0.5 s on the smallest input its spec promises"):
        OnnxNet(sess, time_limit=0.5, where=path)(torch.zeros(1, 3, 8, 12))


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_deeply_nested_specs_are_one_line_and_never_hide_their_neighbours(tmp_path, models, capsys):
    from translate.cli.export import main as export_main
    from translate.cli.info import main as info_main
    from translate.cli.translate import main as translate_main

    folder = tmp_path / "deep"
    folder.mkdir()
    spec = json.dumps(_spec_of(models["translator"]))
    texts = {"notes": spec.replace('"notes": {}', f'"notes": {{"x": {_deep(5000)}}}'),
             "field": spec.replace('"version": ', f'"v": {_deep(100000)}, "version": '),
             "huge": spec.replace('"notes": {}', f'"notes": "{"x" * 2_000_000}"')}
    bad = [with_spec(models["translator"], folder / f"{name}.safetensors", text) for name, text in texts.items()]
    good = with_spec(models["translator"], folder / "ok.safetensors", spec)
    Image.new("RGB", (9, 7)).save(tmp_path / "in.png")
    for path, words in zip(bad, ("over 32 levels deep", "over 32 levels deep", "over the limit of 1,000,000")):
        assert translate_main([str(tmp_path / "in.png"), "--model", str(path), "--out", str(tmp_path / "o")]) == 2
        _one_line_error(capsys, path, words)
        assert export_main([str(path), "--out", str(tmp_path / "x.onnx")]) == 2
        _one_line_error(capsys, path, words)
    assert info_main(["--models", str(folder)]) == 2
    listing = capsys.readouterr().out
    assert "  ok: translation" in listing and listing.count("unreadable:") == 3 and "Traceback" not in listing
    assert translate_main([str(tmp_path / "in.png"), "--model", str(folder), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o").is_dir() and good.exists()


@pytest.mark.parametrize("value_range", [[0, 1e-300], [9999, 10000], [-1e-4, 1e-4]])
def test_value_ranges_must_span_what_pixels_can_use(tmp_path, models, capsys, value_range):
    from translate.cli.translate import main as translate_main

    bad = edited(models["sr"], tmp_path / "bad.safetensors", value_range=value_range)
    Image.new("RGB", (9, 7)).save(tmp_path / "in.png")
    assert translate_main([str(tmp_path / "in.png"), "--model", str(bad), "--out", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, bad, "'value_range' spans too little for pixel values")
    assert not (tmp_path / "o").exists()
    assert read_spec(edited(models["sr"], tmp_path / "ok.safetensors", value_range=[0, 255])).value_range == (0, 255)


def _with_tensors(source: Path, target: Path, change) -> Path:
    with safe_open(str(source), framework="pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k).clone() for k in f.keys()}  # noqa: SIM118 - safe_open is not iterable
    change(tensors)
    save_file(tensors, str(target), metadata=metadata)
    return target


def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path, models, capsys):
    from translate.cli.export import main as export_main
    from translate.cli.generate import main as generate_main
    from translate.cli.translate import main as translate_main

    Image.new("RGB", (9, 7)).save(tmp_path / "in.png")
    for kind in ("translator", "sr", "generator"):
        names = [n for n, t in load_model(models[kind])[0].state_dict().items() if t.is_floating_point()]
        for i, (name, value) in enumerate(zip(names, [float("nan"), float("inf"), float("-inf")] * len(names))):
            bad = _with_tensors(models[kind], tmp_path / f"{kind}{i}.safetensors",
                                lambda d, n=name, v=value: d[n].view(-1).__setitem__(-1, v))
            with pytest.raises(ModelFileError, match=f"the tensor '{re.escape(name)}' holds 1 NaN or infinite value"):
                load_model(bad)
        if kind == "generator":
            assert generate_main([str(bad), "--out", str(tmp_path / "g.png")]) == 2
        else:
            assert translate_main([str(tmp_path / "in.png"), "--model", str(bad), "--out", str(tmp_path / "o")]) == 2
        _one_line_error(capsys, bad, "NaN or infinite")
        assert export_main([str(bad), "--out", str(tmp_path / "x.onnx")]) == 2
        _one_line_error(capsys, bad, "NaN or infinite")
    assert not (tmp_path / "o").exists() and not (tmp_path / "g.png").exists() and not (tmp_path / "x.onnx").exists()


def test_saturated_weights_and_non_finite_onnx_outputs_give_an_error_never_a_file(tmp_path, models, onnx_translator,
                                                                                 capsys):
    import onnx
    from onnx import numpy_helper

    from translate.cli.generate import main as generate_main
    from translate.cli.translate import main as translate_main

    def saturate(tensors):
        for t in tensors.values():
            if t.is_floating_point():
                t.fill_(60000.0)

    pixels = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "in.png")
    white = _with_tensors(models["translator"], tmp_path / "white.safetensors", saturate)
    assert translate_main([str(tmp_path / "in.png"), "--model", str(white), "--out", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, white, "one flat colour for a varied input")
    flat = _with_tensors(models["generator"], tmp_path / "flat.safetensors", saturate)
    assert generate_main([str(flat), "--out", str(tmp_path / "g.png")]) == 2
    _one_line_error(capsys, flat, "one flat colour")

    model = onnx.load(str(onnx_translator))
    kernel = next(i for i in model.graph.initializer if len(i.dims) == 4)
    weights = numpy_helper.to_array(kernel).copy()
    weights.flat[0] = np.nan
    kernel.CopyFrom(numpy_helper.from_array(weights, kernel.name))
    nan = tmp_path / "nan.onnx"
    onnx.save(model, str(nan))
    assert translate_main([str(tmp_path / "in.png"), "--model", str(nan), "--out", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, nan, "output holds NaN or infinite values")
    assert not (tmp_path / "o").exists() and not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("name", ["hf://../etc", "hf://./.", "hf://a/b%2F..%2F..", "hf://" + "o" * 5000 + "/x",
                                  "hf://ownér/näme", "hf://a/b@../../x", "hf://a/\x1b]0;t\x07"])
def test_hub_names_are_checked_first(tmp_path, capsys, monkeypatch, name):
    from translate.cli.translate import main as translate_main
    from translate.cli.web import main as web_main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    Image.new("RGB", (9, 7)).save(tmp_path / "in.png")
    assert translate_main([str(tmp_path / "in.png"), "--model", name]) == 2
    assert web_main(["--models", name]) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 2 and all(line.startswith("error: hf://") for line in lines), err
    assert "Traceback" not in err and "site-packages" not in err and "\x1b" not in err and len(lines[0]) < 400


def test_control_characters_in_names_are_escaped_everywhere(tmp_path, models, capsys):
    from translate.cli.info import main as info_main
    from translate.cli.translate import main as translate_main
    from translate.web_ui import Shelf

    folder = tmp_path / "evil"
    folder.mkdir()
    title = with_spec(models["translator"], folder / "\x1b]0;pwned\x07.safetensors", "[1, 2]")
    fake = folder / "fake\n  ok: translation.safetensors"
    fake.write_bytes(models["translator"].read_bytes())
    bidi = folder / "x\u202egnp.safetensors"
    bidi.write_bytes(models["sr"].read_bytes())
    assert info_main(["--models", str(folder)]) == 2
    captured = capsys.readouterr()
    listing = captured.out.split(f"models in {folder}:\n")[1].splitlines()
    assert len(listing) == 3 and all(line.startswith("  ") for line in listing), listing
    assert "fake\\n  ok: translation" in captured.out and "\\x1b]0;pwned\\x07" in captured.out
    assert "x\\u202egnp" in captured.out
    Image.new("RGB", (9, 7)).save(folder / "\x1b[31mred.png")
    for model in (title, folder / "\x1b[2Jmissing.safetensors"):
        assert translate_main([str(folder / "\x1b[31mred.png"), "--model", str(model)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "\x1b" not in err and "\\x1b" in err
    assert translate_main([str(folder / "\x1b[31mred.png"), "--model", str(fake), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err
    shelf = Shelf([folder], device="cpu")
    shown = [*shelf.choices(("translation", "super-resolution")), _models_page(shelf)]
    assert not any(c in text for text in shown for c in "\x1b\x07\u202e") and "fake\\n" in _models_page(shelf)


def _models_page(shelf) -> str:
    """All the Models tab shows: the table, every panel, the unreadable files."""
    panels = "".join(shelf.model_details(entries, card) for _, entries, card in shelf.groups())
    return shelf.model_table() + panels + shelf.unreadable()


def test_the_app_counts_unreadable_files_and_names_the_first_with_reasons(tmp_path, models):
    from translate.printable import FIRST_PROBLEMS
    from translate.web_ui import Shelf

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(FIRST_PROBLEMS + 15):
        (folder / f"junk{i:03d}.safetensors").write_bytes(b"\x00" * (i + 1))
    page = _models_page(Shelf([folder], device="cpu"))
    assert "No models found" in page and f"Unreadable files: {FIRST_PROBLEMS + 15}" in page
    assert "junk000.safetensors: not a readable safetensors file" in page and "... and 15 more" in page
    assert f"junk{FIRST_PROBLEMS:03d}" not in page
    (folder / "t.safetensors").write_bytes(models["translator"].read_bytes())
    page = _models_page(Shelf([folder], device="cpu"))
    assert "No models found" not in page and f"Unreadable files: {FIRST_PROBLEMS + 15}" in page


def test_a_killed_writer_leaves_a_file_the_next_run_removes_and_a_live_one_keeps(tmp_path):
    import subprocess
    import sys
    import time

    from translate.checkpoint import atomic_write

    slow = ("import sys, time; from translate.checkpoint import atomic_write; "
            "atomic_write(sys.argv[1], lambda tmp: (tmp.write_bytes(b'half'), time.sleep(60)))")
    writer = subprocess.Popen([sys.executable, "-c", slow, str(tmp_path / "clip_x.mp4")],
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    try:
        for _ in range(600):
            temps = list(tmp_path.glob(f".clip_x.mp4{INCOMPLETE}*.tmp"))
            if temps:
                break
            time.sleep(0.05)
        assert temps and remove_interrupted_writes(tmp_path) == []  # its writer is alive: kept
    finally:
        writer.kill()
        writer.wait()
    assert remove_interrupted_writes(tmp_path) == temps  # killed: nobody holds it
    atomic_write(tmp_path / "done.txt", lambda tmp: tmp.write_text("ok"))  # a finished write leaves nothing
    assert [p.name for p in tmp_path.iterdir()] == ["done.txt"]


def test_a_run_killed_during_its_first_writes_resumes_or_restarts_cleanly(tmp_path, monkeypatch, capsys):
    from toy_recipe import ToyConfig, ToyRecipe

    import translate.training.loop as loop_module
    from translate.checkpoint import load_state
    from translate.errors import ConfigError
    from translate.training.config import LoopConfig

    def loop(run: Path) -> LoopConfig:
        return LoopConfig(out=str(run), steps=4, batch_size=4, workers=0, progress=False, tensorboard=False,
                          checkpoint_every=2, sample_every=100, log_every=1)

    clean = tmp_path / "clean"
    loop_module.train(ToyRecipe, ToyConfig(), loop(clean))

    # killed while writing config.json: only its temporary file is there
    run = tmp_path / "config"
    run.mkdir()
    (run / f".config.json{INCOMPLETE}k1.tmp").write_text('{"recipe": "to')
    with pytest.raises(ConfigError, match="stopped while writing its config.json, before any training; start it "
                                          "again without --resume"):
        loop_module.train(ToyRecipe, ToyConfig(), loop(run), resume=True)
    loop_module.train(ToyRecipe, ToyConfig(), loop(run))
    assert not list(run.glob(".*.tmp"))

    # killed (as by SIGKILL: no clean-up) while writing its first checkpoint, after logging two steps
    run = tmp_path / "checkpoint"

    def killed(path, state):
        Path(path).with_name(f".{Path(path).name}{INCOMPLETE}k2.tmp").write_bytes(b"half a checkpoint")
        raise SystemExit("killed")

    with monkeypatch.context() as patch:
        patch.setattr(loop_module, "save_state", killed)
        with pytest.raises(SystemExit):
            loop_module.train(ToyRecipe, ToyConfig(), loop(run))
    assert (run / "config.json").is_file() and not (run / "checkpoint.safetensors").exists()
    capsys.readouterr()
    loop_module.train(ToyRecipe, ToyConfig(), loop(run), resume=True)
    assert "starting it again from step 0 with its saved settings" in capsys.readouterr().err
    assert not list(run.glob(".*.tmp"))
    resumed, straight = load_state(run / "checkpoint.safetensors"), load_state(clean / "checkpoint.safetensors")
    assert resumed["step"] == 4 and all(torch.equal(resumed["nets"]["G"][k], straight["nets"]["G"][k])
                                        for k in straight["nets"]["G"])
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
