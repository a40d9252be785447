"""CUT: encoder taps of the generator, the PatchNCE loss, training, resume, bad input, and its model file
served by translate, the app and export-onnx unchanged."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from translate.checkpoint import load_model, load_state
from translate.cli.train import build_parser, main_cut, resolve_configs
from translate.nets import GENERATORS
from translate.training.config import LoopConfig
from translate.training.cut import CutConfig, CutRecipe, PatchHeads, patch_nce_loss
from translate.training.loop import train

TRAIN_DIR = Path(__file__).resolve().parent.parent / "train"


@pytest.mark.parametrize("norm", ["instance", "none"])
def test_encode_taps_the_encoder_without_changing_the_output(norm):
    torch.manual_seed(0)
    g = GENERATORS["resnet"](ngf=4, n_blocks=2, norm=norm, upsample="resize").eval()
    keys = list(g.state_dict())
    x = torch.rand(2, 3, 16, 20) * 2 - 1
    taps = g.encode(x, (0, 4, 7, 11))
    assert [t.shape for t in taps] == [(2, 3, 22, 26), (2, 8, 8, 10), (2, 16, 4, 5), (2, 16, 4, 5)]
    assert g.encoder_depth == 12
    # layer 4 is a convolution whose output the next ReLU (in place; behind an Identity with norm "none")
    # would overwrite: the tap must hold the convolution's values
    assert torch.equal(taps[1], g.body[4](g.body[:4](x)))
    out, again = g.forward_and_encode(x, (11, 0))
    assert torch.equal(out, g(x)) and torch.equal(again[0], taps[3]) and torch.equal(again[1], taps[0])
    assert list(g.state_dict()) == keys
    with pytest.raises(ValueError, match="encoder layers are 0 to 11, got \\[12\\]"):
        g.encode(x, (0, 12))


def test_patch_nce_by_hand():
    # one image, two patches in 2-d: query 0 points at key 0, query 1 halfway between the keys
    q = torch.tensor([[[1.0, 0.0], [math.sqrt(0.5), math.sqrt(0.5)]]])
    k = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    t = 0.5
    row0 = -math.log(math.exp(1 / t) / (math.exp(1 / t) + math.exp(0)))
    row1 = -math.log(math.exp(math.sqrt(0.5) / t) / (math.exp(math.sqrt(0.5) / t) * 2))
    assert float(patch_nce_loss(q, k, t)) == pytest.approx((row0 + row1) / 2, rel=1e-6)
    # negatives come from the same image only: a second image's keys change nothing in the first's rows
    q2, k2 = torch.cat([q, q.flip(1)]), torch.cat([k, -k])
    other = patch_nce_loss(q.flip(1), -k, t)
    assert float(patch_nce_loss(q2, k2, t)) == pytest.approx((row0 + row1 + 2 * float(other)) / 4, rel=1e-6)
    # no gradient reaches the keys
    k_grad = k.clone().requires_grad_()
    patch_nce_loss(q.clone().requires_grad_(), k_grad, t).backward()
    assert k_grad.grad is None


def test_patch_heads_give_unit_vectors_at_the_chosen_places():
    torch.manual_seed(0)
    heads = PatchHeads([3, 8], dim=5)
    features = [torch.rand(2, 3, 4, 4), torch.rand(2, 8, 2, 3)]
    where = [torch.tensor([0, 15, 6]), torch.tensor([5, 1, 2])]
    out = heads(features, where)
    assert [o.shape for o in out] == [(2, 3, 5), (2, 3, 5)]
    assert torch.allclose(out[0].norm(dim=-1), torch.ones(2, 3))
    # patch 1 of layer 0 is location 15: the bottom-right pixel's channels
    direct = heads.mlps[0](features[0][:, :, 3, 3])
    assert torch.allclose(out[0][:, 1], direct / direct.norm(dim=-1, keepdim=True))


def _domains(tmp_path):
    rng = np.random.default_rng(0)
    for name, count in (("photos", 3), ("paintings", 2)):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (40, 48 + 8 * i, 3), dtype=np.uint8)).save(
                tmp_path / name / f"{i}.png")
    return str(tmp_path / "photos"), str(tmp_path / "paintings")


def _config(a, b, **changes):
    values = dict(domainA=a, domainB=b, crop=32, load_size=40, ngf=4, n_blocks=1, ndf=4, upsample="resize",
                  min_items=8, nce_layers=(0, 4, 7, 10), nce_patches=16, nce_head_dim=8)
    values.update(changes)
    return CutConfig(**values)


FASTCUT = dict(nce_identity=False, flip_equivariance=True, lambda_nce=10.0)


def _loop(out, **changes):
    values = dict(out=str(out), steps=6, batch_size=2, workers=0, progress=False, tensorboard=False, log_every=1,
                  sample_every=6, checkpoint_every=100, device="cpu")
    values.update(changes)
    return LoopConfig(**values)


def _log(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("variant", [{}, FASTCUT], ids=["cut", "fastcut"])
def test_patch_nce_goes_down_and_a_translator_is_saved(tmp_path, variant):
    a, b = _domains(tmp_path)
    recipe = train(CutRecipe, _config(a, b, **variant), _loop(tmp_path / "run", steps=8))
    log = _log(tmp_path / "run")
    assert all(np.isfinite([r["g_adv"], r["nce"], r["d"]]).all() for r in log)
    assert ("nce_idt" in log[0]) == (not variant)
    assert np.mean([r["nce"] for r in log[-2:]]) < 0.8 * log[0]["nce"]
    assert sorted(p.name for p in (tmp_path / "run" / "models").iterdir()) == ["G_A2B.safetensors"]
    net, spec = load_model(tmp_path / "run" / "models" / "G_A2B.safetensors", task="translation")
    assert spec.arch == "resnet" and spec.domains == ("photos", "paintings") and spec.recipe == "cut"
    x = torch.rand(1, 3, 12, 8) * 2 - 1
    assert torch.equal(net(x), recipe.nets["G"].generator.eval()(x))
    assert recipe.sample_grid().shape == (4, 3, 32, 32)
    assert (tmp_path / "run" / "samples" / "step_0000008.png").is_file()


@pytest.mark.parametrize("variant", [{}, FASTCUT], ids=["cut", "fastcut"])
def test_resume_continues_exactly(tmp_path, variant):
    a, b = _domains(tmp_path)
    # the schedule is set: unset, a 3-step run would decay from step 1 and the 6-step one from step 3
    train(CutRecipe, _config(a, b, **variant), _loop(tmp_path / "straight", lr_decay_start=3))
    train(CutRecipe, _config(a, b, **variant), _loop(tmp_path / "split", steps=3, lr_decay_start=3))
    train(CutRecipe, _config(a, b, **variant), _loop(tmp_path / "split", lr_decay_start=3), resume=True)
    one, two = (load_state(tmp_path / run / "checkpoint.safetensors") for run in ("straight", "split"))
    assert set(one["nets"]) == {"G", "F", "D"}
    for name in one["nets"]:
        for key in one["nets"][name]:
            assert torch.equal(one["nets"][name][key], two["nets"][name][key]), (name, key)
    assert [r["nce"] for r in _log(tmp_path / "straight")] == [r["nce"] for r in _log(tmp_path / "split")]


def test_ema_is_what_gets_saved(tmp_path):
    a, b = _domains(tmp_path)
    recipe = train(CutRecipe, _config(a, b), _loop(tmp_path / "run", steps=3, ema=0.9))
    net, _ = load_model(tmp_path / "run" / "models" / "G_A2B.safetensors", task="translation")
    x = torch.rand(1, 3, 8, 12) * 2 - 1
    assert torch.equal(net(x), recipe.ema["G"].generator(x))
    assert not torch.equal(net(x), recipe.nets["G"].generator.eval()(x))


def test_the_model_file_is_served_by_translate_the_app_and_export_unchanged(tmp_path):
    from translate.cli.export import main as export_main
    from translate.cli.translate import main as translate_main
    from translate.data.io import read_image
    from translate.inference import Translator
    from translate.web_ui import Shelf, Upload

    a, b = _domains(tmp_path)
    train(CutRecipe, _config(a, b, names=("photo", "vangogh")), _loop(tmp_path / "run", steps=2))
    models = tmp_path / "run" / "models"
    source = tmp_path / "cat.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (21, 30, 3), dtype=np.uint8)).save(source)

    assert translate_main([str(source), "--model", str(models), "--out", str(tmp_path / "out"),
                           "--device", "cpu"]) == 0
    assert read_image(tmp_path / "out" / "cat_vangogh.png").size == (30, 21)

    shelf = Shelf([models], device="cpu")
    label = "photo → vangogh (G_A2B)"
    assert shelf.choices("translation", paired=False) == [label]
    assert shelf.style(Upload(str(source), "cat.png"), label).shape == (21, 30, 3)

    assert export_main([str(models / "G_A2B.safetensors"), "--out", str(tmp_path / "cut.onnx")]) == 0
    pixels = np.random.default_rng(2).random((20, 28, 3), dtype=np.float32)
    torch_out = Translator.from_file(models / "G_A2B.safetensors", device="cpu")(pixels)
    onnx_out = Translator.from_file(tmp_path / "cut.onnx", provider="cpu")(pixels)
    assert np.abs(torch_out - onnx_out).max() < 1e-4


@pytest.mark.parametrize("args, message", [
    (["--nce-layers", "0", "4", "11"], "nce_layers must be encoder layers 0 to 10 (10 + i is residual block i; "
                                       "n_blocks 1), got [0, 4, 11]"),
    (["--nce-layers", "4", "4"], "nce_layers must be one or more distinct layer indices, got [4, 4]"),
    (["--nce-temperature", "0"], "nce_temperature must be positive, got 0.0"),
    (["--nce-patches", "0"], "nce_patches must be at least 1, got 0"),
    (["--lambda-nce", "-1"], "lambda_nce must be at least 0, got -1.0"),
    (["--gan-loss", "wgan_gp"], "gan_loss wgan_gp is for train-gan"),
    (["--crop", "30"], "crop must be a multiple of 4, got 30"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, message):
    a, b = _domains(tmp_path)
    defaults = ["--out", str(tmp_path / "run"), "--steps", "1", "--workers", "0", "--crop", "32", "--load-size",
                "40", "--ngf", "4", "--n-blocks", "1", "--ndf", "4", "--domainA", a, "--domainB", b]
    assert main_cut([*defaults, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run" / "checkpoint.safetensors").exists()


def test_resuming_a_cyclegan_run_is_refused(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps({"recipe": "cyclegan", "loop": {}, "cyclegan": {}}))
    assert main_cut(["--resume", str(tmp_path / "run")]) == 2
    assert "trained by recipe 'cyclegan', not 'cut'; use train-cyclegan" in capsys.readouterr().err


@pytest.mark.parametrize("toml, fast", [("cut-vangogh-cpu.toml", False), ("fastcut-vangogh-cpu.toml", True)])
def test_recipe_files_resolve(toml, fast):
    loop, config = resolve_configs(CutRecipe, build_parser(CutRecipe).parse_args(["--config", str(TRAIN_DIR / toml)]))
    assert config.nce_identity is not fast and config.flip_equivariance is fast
    assert config.lambda_nce == (10.0 if fast else 1.0) and config.nce_temperature == 0.07
    assert loop.lr_decay_start is not None and loop.lr_decay_start < loop.steps


DDP_SCRIPT = """
import hashlib, os, sys
from pathlib import Path
from translate.cli.train import build_parser, resolve_configs
from translate.training.cut import CutRecipe
from translate.training.loop import train

args = build_parser(CutRecipe).parse_args(sys.argv[1:])
loop, config = resolve_configs(CutRecipe, args)
recipe = train(CutRecipe, config, loop)
digest = hashlib.sha256()
for name in sorted(recipe.nets):
    for tensor in recipe.nets[name].state_dict().values():
        digest.update(tensor.detach().numpy().tobytes())
Path(loop.out, "weights-rank" + os.environ["RANK"] + ".sha256").write_text(digest.hexdigest())
"""


@pytest.mark.slow
@pytest.mark.parametrize("variant", [[], ["--no-nce-identity", "--flip-equivariance", "--lambda-nce", "10"]],
                         ids=["cut", "fastcut"])
def test_torchrun_two_processes_keep_identical_replicas(tmp_path, variant):
    a, b = _domains(tmp_path)
    (tmp_path / "run_cut.py").write_text(DDP_SCRIPT)
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(tmp_path / "run_cut.py"), "--out", str(out), "--steps", "3", "--device", "cpu", "--batch-size", "1",
           "--workers", "0",
           "--no-progress", "--no-tensorboard", "--ema", "0.9", "--domainA", a, "--domainB", b, "--crop", "32",
           "--load-size", "40", "--ngf", "4", "--n-blocks", "1", "--ndf", "4", "--nce-layers", "0", "4", "7", "10",
           "--nce-patches", "16", *variant]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    hashes = [(out / f"weights-rank{r}.sha256").read_text() for r in (0, 1)]
    assert hashes[0] == hashes[1]  # DDP kept both replicas identical through the encoder-only and head calls
    assert load_state(out / "checkpoint.safetensors")["world_size"] == 2
