"""Hugging Face Hub layout: export-hub folders, loading them, and hf:// names from a pre-seeded offline cache.
Nothing here may reach the network: HF_HUB_OFFLINE is set and sockets refuse to connect."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_translator
from PIL import Image

from translate.checkpoint import load_model
from translate.cli.export import main as export_main
from translate.cli.hub import main as hub_main
from translate.cli.translate import main as translate_main
from translate.nets import GENERATORS

REPO = Path(__file__).parent.parent
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("tests may not reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def pair(tmp_path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    tiny_translator(folder / "style_A2B.safetensors", ("photos", "paintings"), seed=0)
    tiny_translator(folder / "style_B2A.safetensors", ("paintings", "photos"), seed=1)
    (folder / "style.md").write_text("# style: a tiny test pair\n\nIts card.\n")
    return folder


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(path)
    return path


def translated(model: str, photo: Path, out: Path, *flags: str) -> np.ndarray:
    assert translate_main([str(photo), "--model", model, "--out", str(out), *flags]) == 0
    (written,) = out.glob("photo_*.png")  # named after the model's output domain
    return np.asarray(Image.open(written))


def test_export_hub_folder_loads_like_the_model_file(pair, photo, tmp_path, capsys):
    hub = tmp_path / "hub"
    assert hub_main([str(pair / "style_A2B.safetensors"), "--out", str(hub)]) == 0
    assert "(both directions), card from" in capsys.readouterr().out
    assert sorted(str(p.relative_to(hub)) for p in hub.rglob("*") if p.is_file()) == [
        "README.md", "config.json", "model.safetensors", "reverse/config.json", "reverse/model.safetensors"]
    readme = (hub / "README.md").read_text()
    assert readme.startswith("---\nlibrary_name: gan-translate\npipeline_tag: image-to-image\n")
    assert "Its card." in readme and "translate photo.jpg --model hf://OWNER/NAME" in readme
    config = json.loads((hub / "config.json").read_text())
    assert config["task"] == "translation" and config["domains"] == ["photos", "paintings"] and config["ngf"] == 4
    for direction, file in (("AtoB", "style_A2B"), ("BtoA", "style_B2A")):
        ours = translated(str(pair / f"{file}.safetensors"), photo, tmp_path / f"a{direction}")
        flags = ("--direction", "BtoA") if direction == "BtoA" else ()
        assert np.array_equal(translated(str(hub), photo, tmp_path / f"b{direction}", *flags), ours)
    assert not np.array_equal(translated(str(hub), photo, tmp_path / "c"),
                              translated(str(hub), photo, tmp_path / "d", "--direction", "BtoA"))


def test_huggingface_hub_mixin_reads_the_folder(pair, tmp_path):
    """Another tool's loader: huggingface_hub's PyTorchModelHubMixin on our network class, strict loading."""
    from huggingface_hub import PyTorchModelHubMixin

    hub = tmp_path / "hub"
    assert hub_main([str(pair / "style_A2B.safetensors"), "--out", str(hub)]) == 0

    class Net(GENERATORS["resnet"], PyTorchModelHubMixin):
        pass

    theirs = Net.from_pretrained(hub, strict=True).eval()
    ours, _ = load_model(pair / "style_A2B.safetensors")
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(theirs(x), ours(x))


def test_bundled_model_exports_with_its_card(tmp_path, capsys):
    assert hub_main(["sr_x4", "--out", str(tmp_path / "sr")]) == 0
    out = capsys.readouterr().out
    assert "wrote 3 files" in out and "sr_x4.md" in out
    assert "pipeline_tag: image-to-image" in (tmp_path / "sr" / "README.md").read_text()
    assert hub_main(["sr_x4", "--out", str(tmp_path / "sr")]) == 2
    assert "holds a model already (pass --overwrite" in capsys.readouterr().err
    assert hub_main(["sr_x4", "--out", str(tmp_path / "sr"), "--overwrite"]) == 0


def test_a_folder_whose_config_disagrees_is_refused(pair, photo, tmp_path, capsys):
    hub = tmp_path / "hub"
    assert hub_main([str(pair / "style_A2B.safetensors"), "--out", str(hub)]) == 0
    config = json.loads((hub / "config.json").read_text())
    config["domains"] = ["cats", "dogs"]
    (hub / "config.json").write_text(json.dumps(config))
    assert translate_main([str(photo), "--model", str(hub)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {hub}: config.json and model.safetensors describe different models; re-export the folder"]
    (hub / "config.json").write_text("{not json")
    assert translate_main([str(photo), "--model", str(hub)]) == 2
    assert capsys.readouterr().err == f"error: {hub / 'config.json'}: model spec is not valid JSON\n"
    shutil.rmtree(hub / "reverse")
    (hub / "config.json").write_text(json.dumps(config))
    assert translate_main([str(photo), "--model", str(hub), "--direction", "BtoA"]) == 2
    assert "holds one direction only" in capsys.readouterr().err


def seed_cache(cache: Path, repo: str, folder: Path) -> None:
    """What huggingface_hub leaves after downloading `repo` at COMMIT: refs/main and a snapshot folder."""
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(COMMIT)
    shutil.copytree(folder, root / "snapshots" / COMMIT)


@pytest.fixture
def offline_cache(tmp_path, monkeypatch, pair):
    """A pre-seeded cache holding hf://someone/style; HF_HUB_OFFLINE=1."""
    from huggingface_hub import constants

    cache = tmp_path / "hf" / "hub"
    hub = tmp_path / "export"
    assert hub_main([str(pair / "style_A2B.safetensors"), "--out", str(hub)]) == 0
    seed_cache(cache, "someone/style", hub)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads these once, at import; this process imported it already
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def test_hf_names_resolve_from_the_cache_offline(offline_cache, pair, photo, tmp_path, monkeypatch, capsys):
    ours = translated(str(pair / "style_A2B.safetensors"), photo, tmp_path / "a")
    assert np.array_equal(translated("hf://someone/style", photo, tmp_path / "b"), ours)
    assert np.array_equal(translated(f"hf://someone/style@{COMMIT}", photo, tmp_path / "c"), ours)
    reverse = translated(str(pair / "style_B2A.safetensors"), photo, tmp_path / "d")
    assert np.array_equal(translated("hf://someone/style", photo, tmp_path / "e", "--direction", "BtoA"), reverse)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert export_main(["hf://someone/style"]) == 0  # named after the repo, here, not inside the cache
    assert (tmp_path / "style.onnx").is_file() and "wrote style.onnx" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "problem"), [
    ("hf://someone/missing", "not in the Hugging Face cache ({cache}) and HF_HUB_OFFLINE is set; run once with "
                             "network access to download it"),
    ("hf://nobody", "a Hub model is named hf://OWNER/NAME (optionally @REVISION)"),
    ("hf://someone/style@", "a Hub model is named hf://OWNER/NAME (optionally @REVISION)"),
])
def test_hf_names_that_cannot_be_had_get_one_line(offline_cache, photo, capsys, name, problem):
    assert translate_main([str(photo), "--model", name]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {name}: {problem.format(cache=offline_cache)}"]


@pytest.mark.slow
def test_a_fresh_process_reads_the_cache_from_the_environment(pair, photo, tmp_path):
    """HF_HOME and HF_HUB_OFFLINE as a user sets them, read by huggingface_hub at import."""
    hub = tmp_path / "export"
    assert hub_main([str(pair / "style_A2B.safetensors"), "--out", str(hub)]) == 0
    seed_cache(tmp_path / "hf" / "hub", "someone/style", hub)
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO),
           "OMP_NUM_THREADS": "1"}
    env.pop("HF_HUB_CACHE", None)
    code = ("import sys; from translate.cli.translate import main; "
            f"sys.exit(main([{str(photo)!r}, '--model', 'hf://someone/style', '--out', {str(tmp_path / 'o')!r}]))")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert len(list((tmp_path / "o").glob("photo_*.png"))) == 1


def test_the_app_serves_an_hf_model(offline_cache, pair):
    from translate.hub import fetch_folders
    from translate.web_ui import Shelf

    folders = fetch_folders(["hf://someone/style", str(pair)])
    assert folders[1] == str(pair) and Path(folders[0]).name == COMMIT
    shelf = Shelf([Path(f) for f in folders], device="cpu")
    assert "photos → paintings (model)" in shelf.choices("translation")
