"""pix2pix: U-Net, paired data layouts, a training run whose L1 falls, and bad pairs."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from translate.cli.train import main_pix2pix
from translate.data.pairs import AlignedPairs
from translate.nets.unet import UnetGenerator
from translate.training.config import LoopConfig
from translate.training.loop import train
from translate.training.pix2pix import Pix2pixConfig, Pix2pixRecipe


@pytest.mark.parametrize("downs, size", [(5, 32), (6, 64), (8, 256)])
def test_unet_shapes_and_gradients(downs, size):
    g = UnetGenerator(num_downs=downs, ngf=2)
    y = g(torch.rand(2, 3, size, size) * 2 - 1)
    assert y.shape == (2, 3, size, size) and y.abs().max() <= 1
    y.mean().backward()
    assert all(p.grad is not None for p in g.parameters())
    assert sum(isinstance(m, torch.nn.Dropout) for m in g.modules()) == max(0, downs - 5)


def _twins(root, sizes=((40, 40), (40, 40))):
    rng = np.random.default_rng(0)
    for side in ("A", "B"):
        (root / side).mkdir(parents=True)
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "A" / f"{i}.png")
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "B" / f"{i}.jpg")
    return root


def test_twin_and_side_by_side_layouts_give_aligned_crops(tmp_path):
    twins = AlignedPairs(_twins(tmp_path / "twins"), crop=32, load_size=36)
    item = twins[(0, 5)]
    assert item["A"].shape == item["B"].shape == (3, 32, 32)
    ab = tmp_path / "ab"
    ab.mkdir()
    left = np.zeros((40, 40, 3), np.uint8)
    left[:, :20] = 255  # left half of the A image white
    Image.fromarray(np.concatenate([left, left], axis=1)).save(ab / "0.png")
    pairs = AlignedPairs(ab, crop=32, load_size=40)
    for seed in range(6):  # identical halves + identical jitter -> identical crops
        item = pairs[(0, seed)]
        assert torch.equal(item["A"], item["B"])
    lower = _twins(tmp_path / "lower")
    (lower / "A").rename(lower / "a")
    (lower / "B").rename(lower / "b")
    assert [(a.parent.name, b.parent.name) for a, b in AlignedPairs(lower, 32, 36).pairs] == [("a", "b")] * 2


def test_a_bad_pair_is_skipped_with_a_warning(tmp_path, capsys):
    root = _twins(tmp_path / "data", sizes=((40, 40),) * 3)
    (root / "B" / "1.jpg").write_bytes(b"not an image")
    pairs = AlignedPairs(root, crop=32, load_size=36)
    assert "warning: skipping" in capsys.readouterr().out and pairs.bad_files.bad == {1}
    assert pairs[(1, 0)]["A"].shape == (3, 32, 32)  # another pair stands in


def test_learns_the_shoe_pairs(tmp_path, samples):
    config = Pix2pixConfig(data=str(samples / "edges2shoes"), crop=64, load_size=64, unet_downs=6, ngf=8, ndf=8,
                           min_items=12, names=("edges", "shoes"), lr=1e-3)
    loop = LoopConfig(out=str(tmp_path / "run"), device="cpu", steps=100, batch_size=3, workers=0, progress=False,
                      tensorboard=False, log_every=10, sample_every=100)
    recipe = train(Pix2pixRecipe, config, loop)
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["l1"] < 0.7 * log[0]["l1"], [r["l1"] for r in log]
    assert recipe.sample_grid().shape == (9, 3, 64, 64)
    from translate.checkpoint import read_spec

    spec = read_spec(tmp_path / "run" / "models" / "G.safetensors")
    assert spec.domains == ("edges", "shoes") and spec.size_multiple == 64


@pytest.mark.parametrize("case, message", [
    ("mismatch", "the halves of a pair must match"),
    ("missing", "has no twin in"),
    ("extraB", "has no twin in"),
    ("onlyA", "has A/ but no B/ beside it"),
    ("twoNames", "0.jpg has the same name; a twin folder needs one file per name"),
    ("odd", "must have an even width"),
    ("nofolder", "no such folder; fetch a public set with: translate-datasets facades"),
    ("setroot", "holds a train/ folder (a public set's root, with val/ and test/ beside it); pass --data"),
    ("downs", "unet_downs must be between 5 and 10, got 4"),
    ("dropout", "dropout must be between 0.0 and 0.99, got 1.5"),
    ("crop", "crop must be at least 32, got 0"),
])
def test_bad_pairs(tmp_path, capsys, case, message):
    root = tmp_path / "data"
    if case == "mismatch":
        _twins(root)
        Image.new("RGB", (30, 40)).save(root / "B" / "0.jpg")
    elif case == "missing":
        _twins(root)
        Image.new("RGB", (40, 40)).save(root / "A" / "extra.png")
    elif case == "extraB":
        _twins(root)
        Image.new("RGB", (40, 40)).save(root / "B" / "extra.png")
    elif case == "onlyA":
        _twins(root)
        for f in (root / "B").iterdir():
            f.unlink()
        (root / "B").rmdir()
    elif case == "twoNames":
        _twins(root)
        Image.new("RGB", (40, 40)).save(root / "A" / "0.jpg")
    elif case == "odd":
        root.mkdir()
        Image.new("RGB", (41, 20)).save(root / "0.png")
    elif case == "setroot":
        _twins(root / "train")
    elif case != "nofolder":
        _twins(root)
    args = ["--data", str(root), "--device", "cpu", "--out", str(tmp_path / "run"), "--crop", "32", "--load-size", "36",
            "--unet-downs", "5", "--ngf", "4", "--steps", "1", "--workers", "0"]
    extra = {"downs": ["--unet-downs", "4"], "dropout": ["--dropout", "1.5"], "crop": ["--crop", "0"]}
    assert main_pix2pix(args + extra.get(case, [])) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_direction_swaps_input_and_target(tmp_path):
    root = _twins(tmp_path / "twins")
    forward = AlignedPairs(root, crop=32, load_size=36)
    backward = AlignedPairs(root, crop=32, load_size=36, direction="BtoA")
    assert torch.equal(forward[(0, 3)]["A"], backward[(0, 3)]["B"])
    assert torch.equal(forward[(0, 3)]["B"], backward[(0, 3)]["A"])


def _lazy_args(root, out, *extra):
    return ["--data", str(root), "--out", str(out), "--crop", "32", "--load-size", "36", "--unet-downs", "5",
            "--ngf", "4", "--ndf", "4", "--steps", "2", "--sample-every", "1", "--workers", "1", *extra]


def test_large_sets_are_checked_up_front_and_sampled(tmp_path, capsys, monkeypatch):
    """Sets above the cache limit are decoded lazily: their sizes are still checked before training,
    errors found in a loader worker still come out as one line, and the sample grid still has rows."""
    monkeypatch.setattr(AlignedPairs, "CACHE_LIMIT", 1)
    root = _twins(tmp_path / "data", sizes=((40, 40),) * 3)
    assert main_pix2pix(_lazy_args(root, tmp_path / "run")) == 0
    assert (tmp_path / "run" / "samples" / "step_0000002.png").is_file()

    Image.new("RGB", (30, 40)).save(root / "B" / "2.jpg")
    assert main_pix2pix(_lazy_args(root, tmp_path / "mismatch")) == 2
    assert "the halves of a pair must match" in capsys.readouterr().err
    assert not (tmp_path / "mismatch" / "checkpoint.safetensors").exists()

    data = (root / "A" / "1.png").read_bytes()
    (root / "A" / "1.png").write_bytes(data[: len(data) // 2])  # the header reads, the pixels do not
    Image.new("RGB", (40, 40)).save(root / "B" / "2.jpg")
    assert main_pix2pix(_lazy_args(root, tmp_path / "truncated")) == 0  # one bad pair of three: skipped
    capsys.readouterr()
    (root / "A" / "0.png").write_bytes(b"")  # and one more, found up front
    assert main_pix2pix(_lazy_args(root, tmp_path / "two")) == 2
    err = capsys.readouterr().err
    assert "2 of 3 images are unreadable" in err and err.count("\n") == 1, err


def test_translator_runs_the_unet_at_its_own_size():
    """The U-Net reaches 1x1 at its innermost level by design: inference must not pad a 32x32 input of a
    5-level net to 64x64, which changes every output pixel."""
    from translate.data.convert import to_pixels, to_tensor
    from translate.inference import Translator
    from translate.model_spec import ModelSpec

    torch.manual_seed(0)
    net = UnetGenerator(num_downs=5, ngf=4).eval()
    spec = ModelSpec(task="translation", arch="unet", arch_kwargs={"num_downs": 5, "ngf": 4}, in_channels=3,
                     out_channels=3, size_multiple=32)
    pixels = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    with torch.no_grad():
        direct = to_pixels(net(to_tensor(pixels, (-1.0, 1.0))[None])[0], (-1.0, 1.0))
    assert np.allclose(Translator(net, spec, torch.device("cpu"), tile=0)(pixels), direct, atol=1e-5)


def test_l1_only_baseline_trains_g_alone_and_evaluate_paired_scores_it(tmp_path, samples, capsys):
    from translate.cli.evaluate import main_paired

    config = Pix2pixConfig(data=str(samples / "edges2shoes"), crop=64, load_size=64, unet_downs=6, ngf=8, ndf=8,
                           min_items=6, names=("edges", "shoes"), lr=1e-3, lambda_gan=0.0)
    loop = LoopConfig(out=str(tmp_path / "run"), steps=30, batch_size=3, workers=0, progress=False,
                      tensorboard=False, log_every=10, sample_every=100, device="cpu")
    recipe = train(Pix2pixRecipe, config, loop)
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(r["d"] == 0 and r["g_adv"] == 0 for r in log) and log[-1]["l1"] < log[0]["l1"]
    assert not recipe.optimizers["D"].state and recipe.optimizers["G"].state  # D never stepped
    model = tmp_path / "run" / "models" / "G.safetensors"
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for i, name in enumerate(sorted((samples / "edges2shoes" / "A").iterdir())[:2]):
        a = Image.open(name).convert("RGB").resize((64, 64))
        b = Image.open(samples / "edges2shoes" / "B" / name.name).convert("RGB").resize((64, 64))
        side = Image.new("RGB", (128, 64))
        side.paste(a, (0, 0)), side.paste(b, (64, 0))
        side.save(pairs / f"{i}.png")
    assert main_paired(["--model", str(model), "--pairs", str(pairs), "--grid", str(tmp_path / "g.png")]) == 0
    trained = capsys.readouterr().out
    assert main_paired(["--model", str(model), "--pairs", str(pairs), "--untrained"]) == 0
    untrained = capsys.readouterr().out

    def l1(text):
        return float(text.split("L1 ")[1].split()[0])

    assert "on 2 pairs" in trained and l1(trained) < l1(untrained)
    assert Image.open(tmp_path / "g.png").size == (192, 128)
    assert main_paired(["--model", str(model), "--pairs", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


def test_paired_scores_by_hand():
    from translate.evaluation.paired import gradient_magnitude, score_pairs

    flat = np.full((16, 16, 3), 0.5, np.float32)
    ramp = np.tile(np.linspace(0, 1, 16, dtype=np.float32)[None, :, None], (16, 1, 3))
    # the luminance of a gray ramp rises by 1/15 per pixel; np.gradient's one-sided ends give the same
    assert gradient_magnitude(ramp) == pytest.approx(1 / 15, rel=1e-3)
    result = score_pairs(lambda x: x, [(flat, ramp)])
    assert result.pairs == 1 and result.sharpness == 0.0 and result.real_sharpness == pytest.approx(1 / 15, rel=1e-2)
    assert result.l1 == pytest.approx(np.mean(np.abs(np.round(ramp * 255) - 128)) / 255)
    perfect = score_pairs(lambda x: ramp, [(flat, ramp)])
    assert perfect.l1 == 0 and perfect.psnr == float("inf") and perfect.ssim == pytest.approx(1.0)
