"""Super-resolution: networks, data, metrics, the Translator's tiling and evaluate-sr."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from PIL import Image

from translate.checkpoint import load_model, save_model
from translate.cli.evaluate import main_sr
from translate.data.sr_patches import SRPatches
from translate.errors import ConfigError
from translate.evaluation.metrics import psnr, rgb_to_y, ssim
from translate.inference import Translator
from translate.model_spec import ModelSpec
from translate.nets import GENERATORS, MLPGenerator
from translate.nets.srresnet import SRDiscriminator, SRResNet
from translate.training.config import LoopConfig, build_config
from translate.training.loop import train
from translate.training.srgan import SrganConfig, SrganRecipe

TINY = {"n_blocks": 1, "channels": 8}


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_srresnet_scales_any_size(scale):
    net = SRResNet(scale=scale, **TINY)
    y = net(torch.rand(2, 3, 7, 5))
    assert y.shape == (2, 3, 7 * scale, 5 * scale)
    y.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_discriminator_takes_any_crop():
    d = SRDiscriminator(channels=8)
    assert d(torch.rand(2, 3, 96, 96)).shape == (2,) and d(torch.rand(1, 3, 40, 56)).shape == (1,)


def _hr_folder(tmp_path, sizes):
    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_sr_patches_are_seeded_and_sized(tmp_path, capsys):
    data = SRPatches(_hr_folder(tmp_path, [(40, 30), (20, 12)]), scale=4, crop=24, patches_per_image=3)
    assert len(data) == 6 and "upscaled" in capsys.readouterr().out  # the 20x12 image is below the crop
    item = data[(1, 99)]
    assert item["hr"].shape == (3, 24, 24) and item["lr"].shape == (3, 6, 6)
    assert torch.equal(item["hr"], data[(1, 99)]["hr"]) and not torch.equal(item["hr"], data[(1, 98)]["hr"])
    assert item["lr"].min() >= 0 and item["lr"].max() <= 1
    assert torch.allclose(item["lr"] * 255, (item["lr"] * 255).round(), atol=1e-3)  # 8-bit levels


def test_sr_patches_read_several_folders_and_jitter_the_scale(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    first = _hr_folder(tmp_path / "a", [(64, 64)])
    second = _hr_folder(tmp_path / "b", [(80, 60), (70, 70)])
    plain = SRPatches([first, second], scale=4, crop=32, patches_per_image=2)
    assert len(plain.files) == 3 and len(plain) == 6
    jittered = SRPatches([first, second], scale=4, crop=32, patches_per_image=2, scale_jitter=0.5)
    item = jittered[(0, 7)]
    assert item["hr"].shape == (3, 32, 32) and item["lr"].shape == (3, 8, 8)
    # a shrunk crop is a resized view of a wider region, so it differs from the plain crop of the same seed
    assert not torch.equal(item["hr"], plain[(0, 7)]["hr"])
    assert torch.equal(item["hr"], jittered[(0, 7)]["hr"])
    with pytest.raises(ConfigError, match="scale_jitter"):
        SRPatches(first, scale=4, crop=32, scale_jitter=0.0)
    with pytest.raises(ConfigError, match="scale_jitter"):
        SrganConfig(data=(str(first),), scale_jitter=1.5)


def test_a_single_data_folder_in_a_recipe_is_a_one_item_list(tmp_path):
    config = build_config(SrganConfig, {"data": "some/folder"}, "recipe.toml")
    assert config.data == ("some/folder",)


def test_bicubic_lr_is_the_clean_downscale_and_realistic_lr_is_degraded_but_seeded(tmp_path):
    from translate.data.resize import bicubic_resize

    # a smooth image, so that blur, noise and JPEG visibly change it
    yy, xx = np.mgrid[0:64, 0:64]
    smooth = np.stack([xx * 3, yy * 3, (xx + yy) * 1.5], axis=2).astype(np.uint8)
    folder = tmp_path / "hr"
    folder.mkdir()
    Image.fromarray(smooth).save(folder / "smooth.png")
    clean = SRPatches(folder, scale=4, crop=64, patches_per_image=8)
    real = SRPatches(folder, scale=4, crop=64, patches_per_image=8, degradation="realistic")
    differences = []
    for seed in range(8):
        item, degraded = clean[(0, seed)], real[(0, seed)]
        hr = (item["hr"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        assert torch.equal(item["hr"], degraded["hr"])  # the target stays clean
        expected = bicubic_resize(hr.astype(np.float32) / 255, (16, 16))
        assert np.array_equal(item["lr"].permute(1, 2, 0).numpy(), expected)
        assert degraded["lr"].shape == (3, 16, 16) and degraded["lr"].min() >= 0 and degraded["lr"].max() <= 1
        assert torch.equal(degraded["lr"], real[(0, seed)]["lr"])  # same seed, same degradation
        differences.append(float((degraded["lr"] - item["lr"]).abs().mean()))
    assert max(differences) > 2 / 255 and len(set(differences)) > 4  # degraded, differently per seed
    assert abs(float(real[(0, 0)]["lr"].mean() - clean[(0, 0)]["lr"].mean())) < 0.05  # no colour shift
    with pytest.raises(ValueError, match="degradation must be one of"):
        SRPatches(folder, scale=4, crop=64, degradation="jpeg")


def test_psnr_and_ssim_by_hand():
    a = np.full((20, 20), 100.0)
    assert psnr(a, a) == math.inf and ssim(a, a) == pytest.approx(1.0)
    assert psnr(a, a + 5) == pytest.approx(10 * math.log10(255**2 / 25))
    c1 = (0.01 * 255) ** 2
    assert ssim(a, a + 5) == pytest.approx((2 * 100 * 105 + c1) / (100**2 + 105**2 + c1))
    rng = np.random.default_rng(0)
    noisy = a + rng.normal(0, 10, a.shape)
    assert psnr(a, noisy, border=4) < psnr(a, a + 5)
    assert rgb_to_y(np.ones((1, 1, 3)))[0, 0] == pytest.approx(235.0)
    assert rgb_to_y(np.zeros((1, 1, 3)))[0, 0] == pytest.approx(16.0)


def _sr_model(tmp_path, scale=4):
    torch.manual_seed(0)
    kwargs = {"scale": scale, **TINY}
    spec = ModelSpec(task="super-resolution", arch="srresnet", arch_kwargs=kwargs, in_channels=3, out_channels=3,
                     value_range=(0.0, 1.0), scale=scale)
    return save_model(tmp_path / "sr.safetensors", GENERATORS["srresnet"](**kwargs), spec)


def test_tiled_matches_untiled(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.random((50, 70, 3), dtype=np.float32)
    whole = Translator.from_file(_sr_model(tmp_path), device="cpu", tile=0)(image)
    tiled = Translator.from_file(_sr_model(tmp_path), device="cpu", tile=40, tile_overlap=36)(image)
    assert whole.shape == tiled.shape == (200, 280, 3)
    assert np.abs(whole - tiled).max() < 1e-5  # overlap/4 = 9 px covers the 8-px receptive radius


def test_bicubic_baseline_matches_published_set5(samples, capsys):
    assert main_sr(["--device", "cpu", "--sets", str(samples / "sr" / "Set5")]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert row[:4] == ["Set5", "clean", "5", "bicubic"]
    assert abs(float(row[4]) - 28.42) < 0.3  # Ledig et al. 2017, Table 2


def test_evaluate_sr_model_and_errors(tmp_path, samples, capsys):
    model = _sr_model(tmp_path)
    assert main_sr(["--model", str(model), "--sets", "Set5", "--device", "cpu", "--degradation", "clean",
                    "heavy"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [row[:4] for row in rows] == [["Set5", level, "5", method] for level in ("clean", "heavy")
                                         for method in ("bicubic", model.name)]
    assert rows[1][-1] == "dB" and 0 < float(rows[0][6]) < 1  # bicubic is softer than the HR
    kwargs = {"latent_dim": 4, "image_size": 4, "channels": 1, "hidden": 8, "n_layers": 1}
    gen = save_model(tmp_path / "gen.safetensors", MLPGenerator(**kwargs),
                     ModelSpec(task="generation", arch="mlp", arch_kwargs=kwargs, in_channels=4, out_channels=1,
                               latent_dim=4, image_size=4))
    (tmp_path / "empty").mkdir()
    for args, message in [
        (["--model", str(gen)], "is a generation model; this needs a super-resolution model"),
        (["--model", str(model), "--scale", "2"], "does not match"),
        (["--scale", "5"], "--scale must be one of 2, 3, 4, 8"),
        (["--sets", str(tmp_path / "empty")], "no images found"),
    ]:
        assert main_sr(args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_srgan_psnr_stage_learns(tmp_path):
    folder = tmp_path / "hr"
    folder.mkdir()
    # smooth images are easy to upscale: the pixel loss must fall well below its start
    yy, xx = np.indices((48, 48))
    for i in range(2):
        pixels = np.stack([xx * 5, yy * 5, (xx + yy) * 2 + 40 * i], axis=2).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    config = SrganConfig(data=str(folder), crop=16, n_blocks=1, channels=16, lr=2e-3)
    loop = LoopConfig(out=str(tmp_path / "run"), device="cpu", steps=200, batch_size=4, workers=0, progress=False,
                      tensorboard=False, log_every=10, sample_every=200)
    recipe = train(SrganRecipe, config, loop)
    import json

    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["pixel"] < 0.5 * log[0]["pixel"], log
    assert (tmp_path / "run" / "models" / "sr_x4.safetensors").is_file()
    assert recipe.sample_grid().shape == (12, 3, 16, 16)


def test_bicubic_skip_starts_near_bicubic():
    torch.manual_seed(0)
    net = SRResNet(scale=4, n_blocks=1, channels=8, bicubic_skip=True)
    x = torch.rand(1, 3, 12, 10)
    bicubic = torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    plain = SRResNet(scale=4, n_blocks=1, channels=8)
    assert (net(x) - bicubic).abs().mean() < 0.2 * (plain(x) - bicubic).abs().mean()


def test_vgg_content_loss_on_random_vgg():
    from torchvision.models import vgg19

    from translate.losses import VGGPerceptualLoss

    torch.manual_seed(0)
    loss = VGGPerceptualLoss(vgg19(weights=None).features)
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    y = torch.rand(1, 3, 32, 32)
    assert loss(x, x.detach()).item() == 0.0
    value = loss(x, y)
    value.backward()
    assert value.item() > 0 and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss.parameters())


def _psnr_model(tmp_path):
    kwargs = {"scale": 4, "n_blocks": 1, "channels": 8, "bicubic_skip": True}
    spec = ModelSpec(task="super-resolution", arch="srresnet", arch_kwargs=kwargs, in_channels=3, out_channels=3,
                     value_range=(0.0, 1.0), scale=4)
    return save_model(tmp_path / "psnr.safetensors", GENERATORS["srresnet"](**kwargs), spec)


def test_psnr_stage_fine_tunes_from_init_with_second_order_lr(tmp_path):
    folder = _hr_folder(tmp_path, [(48, 48)] * 2)
    init = _psnr_model(tmp_path)
    config = SrganConfig(data=str(folder), crop=32, init=str(init), degradation="second-order")
    loop = LoopConfig(out=str(tmp_path / "run"), device="cpu", steps=2, batch_size=2, workers=0, progress=False,
                      tensorboard=False, log_every=1, sample_every=2)
    before = {k: v.clone() for k, v in load_model(init, task="super-resolution")[0].state_dict().items()}
    recipe = train(SrganRecipe, config, loop)
    assert recipe.g_kwargs == {"scale": 4, "n_blocks": 1, "channels": 8, "bicubic_skip": True}  # from --init
    after = recipe.nets["G"].state_dict()
    # started from the init's weights: two small steps moved them, but only a little
    assert all((after[k] - before[k]).abs().max() < 0.05 for k in before)
    init.unlink()  # a resume needs the run folder only
    resumed = train(SrganRecipe, config, dataclasses.replace(loop, steps=3), resume=True)
    assert resumed.g_kwargs == recipe.g_kwargs and (tmp_path / "run" / "models" / "sr_x4.safetensors").is_file()


def test_gan_stage_with_feature_matching(tmp_path):
    folder = _hr_folder(tmp_path, [(48, 48)] * 2)
    config = SrganConfig(data=str(folder), crop=32, stage="gan", init=str(_psnr_model(tmp_path)),
                         content_loss="feature_matching", d_channels=8)
    loop = LoopConfig(out=str(tmp_path / "run"), device="cpu", steps=3, batch_size=2, workers=0, progress=False,
                      tensorboard=False, log_every=1, sample_every=3)
    recipe = train(SrganRecipe, config, loop)
    import json

    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite([r["d"], r["content"], r["g_adv"]]).all() for r in log)
    assert recipe.g_kwargs["bicubic_skip"] is True  # the architecture came from --init
    assert (tmp_path / "run" / "models" / "srgan_x4.safetensors").is_file()
    (tmp_path / "psnr.safetensors").unlink()  # a resume needs the run folder only, not the --init file
    resumed = train(SrganRecipe, config, dataclasses.replace(loop, steps=5), resume=True)
    assert resumed.g_kwargs == recipe.g_kwargs
    assert json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])["step"] == 5


@pytest.mark.parametrize("extra, message", [
    ([], "pass --init MODEL"),
    (["--init", "{init}"], "download.pytorch.org/models/vgg19-dcbb9e9d.pth"),
    (["--init", "{init}", "--vgg-weights", "{tmp}/nope.pth"], "no such VGG19 weights file"),
    (["--init", "{init}", "--vgg-weights", "{init}"], "not VGG19 weights"),
    (["--init", "{init}", "--scale", "2", "--crop", "32"], "is a x4 model, but --scale is 2"),
])
def test_gan_stage_errors(tmp_path, capsys, extra, message):
    from translate.cli.train import main_srgan

    folder = _hr_folder(tmp_path, [(48, 48)])
    init = _psnr_model(tmp_path)
    args = ["--data", str(folder), "--device", "cpu", "--stage", "gan", "--crop", "32", "--out", str(tmp_path / "run"),
            "--steps", "1", "--workers", "0", *[a.format(init=init, tmp=tmp_path) for a in extra]]
    assert main_srgan(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_evaluation_refuses_images_too_small_to_measure(tmp_path):
    from translate.errors import ImageError
    from translate.evaluation.metrics import evaluate_sr_folder

    Image.new("RGB", (12, 40)).save(tmp_path / "tiny.png")
    with pytest.raises(ImageError, match="tiny.png: 12x40 is too small to measure at x4"):
        evaluate_sr_folder(str(tmp_path), 4)


def test_second_order_degradation_is_seeded_varied_and_sized():
    from translate.data.degrade import Degrader

    rng = np.random.default_rng(0)
    hr = (rng.random((96, 96, 3)) * 64 + np.linspace(0, 180, 96)[None, :, None]).astype(np.uint8)
    degrade = Degrader(4, "second-order")
    first, again, other = degrade(hr, 3), degrade(hr, 3), degrade(hr, 4)
    assert first.shape == (24, 24, 3) and first.dtype == np.float32 and first.min() >= 0 and first.max() <= 1
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert np.array_equal(first * 255, np.round(first * 255))  # 8-bit, as an LR file
    lrs = [degrade(hr, seed) for seed in range(12)]
    assert len({round(float(np.abs(lr - lrs[0]).mean()), 4) for lr in lrs}) == 12


def test_blur_kernels_cover_the_shapes_they_promise():
    from translate.data.degrade import gaussian_kernel, poisson_noise, random_kernel

    iso, aniso = gaussian_kernel(1.5, 1.5, 0.0), gaussian_kernel(3.0, 0.5, 0.3)
    assert abs(iso.sum() - 1) < 1e-9 and np.allclose(iso, iso.T) and not np.allclose(aniso, aniso.T)
    plateau, tails = gaussian_kernel(2.0, 2.0, 0.0, 4.0), gaussian_kernel(2.0, 2.0, 0.0, 0.5)
    centre = iso.shape[0] // 2
    # a plateau keeps near-centre weights close to the peak; heavy tails put more weight at the rim
    assert plateau[centre, centre + 1] / plateau[centre, centre] > iso[centre, centre + 1] / iso[centre, centre]
    assert tails[centre, -1] / tails[centre, centre] > gaussian_kernel(2.0, 2.0, 0.0)[centre, -1] / iso[centre, centre]
    rng = np.random.default_rng(1)
    assert all(abs(random_kernel(rng, (0.2, 2.4)).sum() - 1) < 1e-9 for _ in range(20))
    flat = np.full((16, 16, 3), 128, np.uint8)
    gray = poisson_noise(flat, 0.5, True, np.random.default_rng(0))
    assert np.array_equal(gray[..., 0], gray[..., 1]) and gray.std() > 1
    colour = poisson_noise(flat, 0.5, False, np.random.default_rng(0))
    assert not np.array_equal(colour[..., 0], colour[..., 1])


def test_real_world_test_levels_are_fixed_and_ordered(samples):
    from translate.data.degrade import real_world_lr
    from translate.data.io import read_image
    from translate.data.resize import mod_crop
    from translate.evaluation.metrics import psnr

    hr = mod_crop(read_image(samples / "sr" / "Set5" / "bird.png").pixels, 4)
    lrs = {level: real_world_lr(hr, 4, level, "bird.png") for level in ("clean", "light", "medium", "heavy")}
    assert all(lr.shape == (hr.shape[0] // 4, hr.shape[1] // 4, 3) for lr in lrs.values())
    assert np.array_equal(lrs["heavy"], real_world_lr(hr, 4, "heavy", "bird.png"))  # seeded by the file name
    distance = [psnr(lrs["clean"] * 255, lrs[level] * 255) for level in ("light", "medium", "heavy")]
    assert distance[0] > distance[1] > distance[2] > 20  # each level further from the clean LR
