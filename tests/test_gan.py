"""The GAN recipe: every architecture/objective/option combination builds and trains a step."""

import pytest
import torch
from PIL import Image

from translate.checkpoint import load_model
from translate.cli.train import main_gan
from translate.nets import DISCRIMINATORS, GENERATORS
from translate.training.config import LoopConfig
from translate.training.gan import GanConfig, GanRecipe
from translate.training.loop import train


def _loop(tmp_path, **changes):
    values = dict(out=str(tmp_path / "run"), device="cpu", steps=2, batch_size=4, workers=0, progress=False,
                  tensorboard=False, sample_every=100, log_every=1)
    values.update(changes)
    return LoopConfig(**values)


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])  # the GAN families; the others have their own tests
@pytest.mark.parametrize("conditional", [False, True])
def test_generator_and_discriminator_tables(arch, conditional):
    n_classes = 3 if conditional else 0
    g = GENERATORS[arch](latent_dim=5, image_size=16, channels=3, n_classes=n_classes)
    d = DISCRIMINATORS[arch](image_size=16, channels=3, n_classes=n_classes)
    labels = torch.tensor([0, 2]) if conditional else None
    images = g(torch.randn(2, 5), labels)
    assert images.shape == (2, 3, 16, 16) and images.abs().max() <= 1
    logits = d(images, labels)
    assert logits.shape == (2,) and torch.isfinite(logits).all()
    logits.sum().backward()
    for net in (g, d):
        for name, p in net.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("loss", ["minimax", "non_saturating", "maximum_likelihood", "lsgan", "wgan", "wgan_gp",
                                  "hinge"])
@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_every_objective_trains_a_step(tmp_path, arch, loss):
    config = GanConfig(arch=arch, loss=loss, width=8, latent_dim=8, d_steps=1)
    recipe = train(GanRecipe, config, _loop(tmp_path))
    log = (tmp_path / "run" / "log.jsonl").read_text()
    assert "NaN" not in log and '"g"' in log
    if loss == "wgan":
        assert max(p.abs().max().item() for p in recipe.nets["D"].parameters()) <= 0.01 + 1e-9
    net, spec = load_model(tmp_path / "run" / "models" / "G.safetensors", task="generation")
    assert spec.image_size == 16 and spec.latent_dim == 8
    assert net(torch.randn(3, 8)).shape == (3, 1, 16, 16)


@pytest.mark.parametrize("options", [
    {"conditional": True}, {"acgan": True}, {"spectral_norm": True, "spectral_norm_g": True},
    {"self_attention": 8}, {"minibatch_stddev": True}, {"label_smoothing": 0.1, "instance_noise": 0.1},
    {"conditional": True, "loss": "wgan_gp"}, {"d_norm": "layer", "loss": "hinge"},
])
def test_stabilisers_and_conditioning(tmp_path, options):
    config = GanConfig(width=8, latent_dim=8, d_steps=1, **options)
    recipe = train(GanRecipe, config, _loop(tmp_path, ema=0.9))
    _, spec = load_model(tmp_path / "run" / "models" / "G.safetensors")
    conditional = options.get("conditional") or options.get("acgan")
    assert spec.labels == (tuple(str(i) for i in range(10)) if conditional else None)
    grid = recipe.sample_grid()
    assert grid.shape == ((100 if conditional else 64), 1, 16, 16) and grid.min() >= 0 and grid.max() <= 1


def test_paper_defaults_are_resolved_and_overridable():
    assert GanConfig(loss="wgan").resolved() == {"optimizer": "rmsprop", "lr_g": 5e-5, "lr_d": 5e-5, "beta1": 0.5,
                                                 "beta2": 0.999, "d_steps": 5, "d_norm": "batch"}
    gp = GanConfig(loss="wgan_gp", lr_d=3e-4).resolved()
    assert (gp["lr_g"], gp["lr_d"], gp["beta1"], gp["beta2"], gp["d_steps"], gp["d_norm"]) == \
        (1e-4, 3e-4, 0.0, 0.9, 5, "none")


def test_critic_steps_per_generator_step(tmp_path):
    recipe = train(GanRecipe, GanConfig(width=8, latent_dim=8, d_steps=3), _loop(tmp_path, steps=6))
    g_steps = recipe.optimizers["G"].state[next(iter(recipe.nets["G"].parameters()))]["step"]
    d_steps = recipe.optimizers["D"].state[next(iter(recipe.nets["D"].parameters()))]["step"]
    assert (int(g_steps), int(d_steps)) == (2, 6)


def test_ema_averages_only_after_generator_updates(tmp_path, monkeypatch):
    from translate.training.ema import EMA

    counts = []
    update = EMA.update
    monkeypatch.setattr(EMA, "update", lambda self, net, step: (counts.append(step), update(self, net, step)))
    recipe = train(GanRecipe, GanConfig(width=8, latent_dim=8, d_steps=3), _loop(tmp_path, steps=6, ema=0.9))
    assert counts == [0, 1]  # after loop steps 3 and 6, warming up by generator updates, not loop steps
    assert recipe.update_count("D", 6) == 6


def test_image_folder_with_mixed_sizes_and_classes(tmp_path):
    for i, (cls, size) in enumerate([("cats", (40, 30)), ("cats", (17, 50)), ("dogs", (64, 64)), ("dogs", (9, 9))]):
        (tmp_path / "data" / cls).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (i * 60, 100, 200)).save(tmp_path / "data" / cls / f"{i}.png")
    config = GanConfig(data=str(tmp_path / "data"), channels=3, width=8, latent_dim=8, conditional=True)
    train(GanRecipe, config, _loop(tmp_path))
    _, spec = load_model(tmp_path / "run" / "models" / "G.safetensors")
    assert spec.labels == ("cats", "dogs") and spec.out_channels == 3


def test_image_folder_skips_a_bad_file_and_stops_at_two(tmp_path, capsys):
    from translate.data.folders import ImageFolder
    from translate.errors import ConfigError

    for i in range(6):
        Image.new("RGB", (20, 20), (i * 40, 0, 0)).save(tmp_path / f"{i}.png")
    (tmp_path / "3.png").write_bytes(b"")
    folder = ImageFolder(tmp_path, 16)
    assert folder[(3, 7)]["image"].shape == (3, 16, 16)  # another file stands in
    out = capsys.readouterr().out
    assert "warning: skipping" in out and "3.png: empty file" in out
    (tmp_path / "4.png").write_bytes(b"junk")
    with pytest.raises(ConfigError, match="2 of 6 images are unreadable"):
        folder[(4, 0)]


@pytest.mark.parametrize("args, message", [
    (["--loss", "wasserstein"], "invalid choice: 'wasserstein'"),
    (["--acgan", "--data", "{flat}"], "need labelled data"),
    (["--data", "{empty}"], "no images found"),
    (["--conditional", "--acgan"], "not both"),
    (["--arch", "mlp", "--minibatch-stddev"], "need --arch dcgan"),
    (["--lr-d", "-1"], "lr_d must be positive, got -1.0"),
    (["--beta1", "1.5"], "beta1 must be in [0, 1), got 1.5"),
    (["--image-size", "20"], "image_size must be one of 16, 32, 64 for dcgan, got 20"),
    (["--loss", "wgan", "--clip", "-1"], "clip must be positive, got -1.0"),
    (["--gp-weight", "-5"], "gp_weight must be at least 0, got -5.0"),
    (["--self-attention", "5"], "self_attention must be 0 or one of 8 for image_size 16, got 5"),
    (["--latent-dim", "0"], "latent_dim must be at least 1, got 0"),
    (["--loss", "wgan_gp", "--d-norm", "batch"], "batch norm makes depend on the whole batch"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "flat" / "a.png")
    args = [a.format(flat=tmp_path / "flat", empty=tmp_path / "empty") for a in args]
    try:
        code = main_gan([*args, "--out", str(tmp_path / "run"), "--device", "cpu", "--steps", "1", "--workers", "0"])
    except SystemExit as exit_:  # argparse rejects bad choices itself, listing the valid ones
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_resume_with_another_network_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    assert main_gan(["--out", str(run), "--device", "cpu", "--steps", "1", "--workers", "0", "--width", "8",
                     "--no-progress"]) == 0
    assert main_gan(["--resume", str(run), "--steps", "2", "--width", "16"]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert "the checkpoint does not fit the current settings" in err, err


def test_minibatch_stddev_has_finite_gradients_on_a_collapsed_half_precision_batch():
    from translate.nets.layers import MinibatchStdDev

    x = torch.ones(4, 3, 2, 2, dtype=torch.float16, requires_grad=True)  # four identical samples
    out = MinibatchStdDev()(x)
    assert out.dtype == torch.float16 and out.shape == (4, 4, 2, 2)
    out.float().sum().backward()
    assert torch.isfinite(x.grad).all()


def test_fakes_take_the_batch_labels_and_g_sees_d_through_the_same_noise(tmp_path, monkeypatch):
    seen = {"g_labels": [], "noisy": 0}
    recipe_step = GanRecipe.step

    def spy(self, batch, step):
        G = self.train_nets["G"]
        forward = G.forward
        G.forward = lambda z, labels=None: (seen["g_labels"].append((labels, batch["label"])), forward(z, labels))[1]
        try:
            return recipe_step(self, batch, step)
        finally:
            del G.forward

    noisy = GanRecipe._noisy
    monkeypatch.setattr(GanRecipe, "step", spy)
    monkeypatch.setattr(GanRecipe, "_noisy", lambda self, x, step: (seen.__setitem__("noisy", seen["noisy"] + 1),
                                                                    noisy(self, x, step))[1])
    config = GanConfig(width=8, latent_dim=8, d_steps=1, conditional=True, instance_noise=0.1)
    train(GanRecipe, config, _loop(tmp_path, steps=2))
    assert len(seen["g_labels"]) == 2 and all(torch.equal(g, real) for g, real in seen["g_labels"])
    assert seen["noisy"] == 2 * 3  # real and fake for D, fake again for G, at each step
