"""CycleGAN: networks, image pool, data, training steps, resume and bad input."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from translate.checkpoint import load_model, load_state
from translate.cli.train import build_parser, main_cyclegan, resolve_configs
from translate.data.domains import Domain
from translate.nets import DISCRIMINATORS, GENERATORS
from translate.training.config import LoopConfig
from translate.training.cyclegan import CycleganConfig, CycleganRecipe, ImagePool
from translate.training.gan import GanRecipe
from translate.training.loop import train
from translate.training.pix2pix import Pix2pixRecipe


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_resnet_generator_any_multiple_of_4(upsample, norm):
    g = GENERATORS["resnet"](ngf=4, n_blocks=1, norm=norm, upsample=upsample)
    for h, w in [(8, 8), (12, 20), (36, 8)]:  # instance norm needs > 1 pixel at 1/4 scale
        y = g(torch.rand(2, 3, h, w) * 2 - 1)
        assert y.shape == (2, 3, h, w) and y.abs().max() <= 1
    y.mean().backward()
    for name, p in g.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("kind, shape", [("patch", (1, 1, 6, 6)), ("pixel", (1, 1, 64, 64))])
def test_discriminators(kind, shape):
    d = DISCRIMINATORS[kind](ndf=4)
    assert d(torch.rand(1, 3, 64, 64)).shape == shape


def test_image_pool_returns_stored_images_half_the_time_once_full():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned as they are
    swapped = 0
    for i in range(400):
        new = torch.full((1, 1, 1, 1), 100.0 + i)
        out = pool.query(new)
        swapped += int(out.item() != new.item())
        assert len(pool.images) == 4
    assert 150 < swapped < 250  # p = 1/2
    assert torch.equal(ImagePool(0).query(first), first)
    assert not ImagePool(0).query(first.requires_grad_()).requires_grad  # the generator graph stays out of D's step


def test_image_pool_restores_its_images_even_more_than_its_size():
    pool = ImagePool(2)
    pool.images = [torch.full((1, 2, 2), float(i)) for i in range(3)]  # saved by a run with a bigger pool
    assert pool.images.shape == (3, 1, 2, 2)
    torch.manual_seed(0)
    returned = {float(pool.query(torch.full((1, 1, 2, 2), 9.0 + i))[0, 0, 0, 0]) for i in range(40)}
    assert {0.0, 1.0, 2.0} <= returned  # every restored image can come back out
    assert len(pool.images) == 3


def _domains(tmp_path, bad=False):
    rng = np.random.default_rng(0)
    for name, count in (("photos", 3), ("paintings", 1)):
        (tmp_path / name).mkdir()
        for i in range(count):
            size = (40 + 8 * i, 24) if name == "photos" else (60, 50)
            Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(
                tmp_path / name / f"{i}.png")
    if bad:
        (tmp_path / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return str(tmp_path / "photos"), str(tmp_path / "paintings")


def _config(a, b, **changes):
    values = dict(domainA=a, domainB=b, crop=32, load_size=40, scale_jitter=1.5, ngf=4, n_blocks=1, ndf=4,
                  upsample="resize", min_items=8, pool_size=3)
    values.update(changes)
    return CycleganConfig(**values)


def _loop(out, **changes):
    values = dict(out=str(out), device="cpu", steps=6, batch_size=2, workers=0, progress=False, tensorboard=False,
                  log_every=1, sample_every=6, checkpoint_every=100)
    values.update(changes)
    return LoopConfig(**values)


def test_trains_and_saves_both_directions(tmp_path):
    a, b = _domains(tmp_path)
    recipe = train(CycleganRecipe, _config(a, b), _loop(tmp_path / "run"))
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite([r["g_adv"], r["cycle"], r["identity"], r["d_A"], r["d_B"]]).all() for r in log)
    assert log[-1]["cycle"] != log[0]["cycle"]
    for stem, domains in (("G_A2B", ("photos", "paintings")), ("G_B2A", ("paintings", "photos"))):
        net, spec = load_model(tmp_path / "run" / "models" / f"{stem}.safetensors", task="translation")
        assert spec.domains == domains and spec.size_multiple == 4
        x = torch.rand(1, 3, 8, 12) * 2 - 1
        assert torch.equal(net(x), recipe.nets[stem].eval()(x))
    assert recipe.sample_grid().shape == (6, 3, 32, 32)
    grid = Image.open(tmp_path / "run" / "samples" / "step_0000006.png")
    # two rows, three columns of 32-pixel cells, plus caption margins above (input, translation,
    # reconstruction) and at the left (photos -> paintings, paintings -> photos)
    assert grid.height > 2 + 2 * 34 and grid.width > 2 + 3 * 34 + 60


def test_names_flag_names_the_domains_in_the_model_files(tmp_path):
    a, b = _domains(tmp_path)
    train(CycleganRecipe, _config(a, b, names=("photo", "monet")), _loop(tmp_path / "run", steps=1))
    _, spec = load_model(tmp_path / "run" / "models" / "G_B2A.safetensors", task="translation")
    assert spec.domains == ("monet", "photo")


def test_resume_continues_exactly_with_pools(tmp_path):
    a, b = _domains(tmp_path)
    # the schedule is set: unset, a 3-step run would decay from step 1 and the 6-step one from step 3
    train(CycleganRecipe, _config(a, b), _loop(tmp_path / "straight", lr_decay_start=3))
    train(CycleganRecipe, _config(a, b), _loop(tmp_path / "split", steps=3, lr_decay_start=3))
    train(CycleganRecipe, _config(a, b), _loop(tmp_path / "split", lr_decay_start=3), resume=True)
    one, two = (load_state(tmp_path / run / "checkpoint.safetensors") for run in ("straight", "split"))
    for name in one["nets"]:
        for key in one["nets"][name]:
            assert torch.equal(one["nets"][name][key], two["nets"][name][key]), (name, key)
    assert len(one["recipe_state"]["A"]) == 3
    for x, y in zip(one["recipe_state"]["A"], two["recipe_state"]["A"]):
        assert torch.equal(x, y)


def test_corrupt_file_among_good_ones_is_skipped(tmp_path, capsys):
    a, b = _domains(tmp_path, bad=True)  # 1 bad in 4: over 10%, but one bad file is always let through
    train(CycleganRecipe, _config(a, b, min_items=16), _loop(tmp_path / "run", steps=8))
    assert "warning: skipping " + str(tmp_path / "photos" / "broken.jpg") in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--domainA", "{tmp}/nope", "--domainB", "{b}"], "no such folder; pass a folder of images"),
    (["--dataroot", "{tmp}/horse2zebra"], "translate-datasets horse2zebra"),
    (["--domainA", "{tmp}/empty", "--domainB", "{b}"], "no images found"),
    (["--domainA", "{tmp}/allbad", "--domainB", "{b}"], "2 of 2 images are unreadable (more than 10%)"),
    (["--domainA", "{tmp}/allbad/one", "--domainB", "{b}"], "allbad/one: no readable images"),
    (["--domainA", "{a}", "--domainB", "{b}", "--norm", "group"], "invalid choice: 'group'"),
    (["--domainA", "{a}", "--domainB", "{b}", "--crop", "64", "--load-size", "32"],
     "load_size must be between 64 and 8192, got 32"),
    (["--domainA", "{a}", "--domainB", "{b}", "--load-size", "100000"], "load_size must be between 32 and 8192"),
    (["--domainA", "{a}", "--domainB", "{b}", "--crop", "16"], "crop must be at least 24, got 16"),
    (["--domainA", "{a}", "--domainB", "{b}", "--ngf", "0"], "ngf must be at least 1, got 0"),
    (["--domainA", "{a}", "--domainB", "{b}", "--n-blocks", "-1"], "n_blocks must be at least 0, got -1"),
    (["--domainA", "{a}", "--domainB", "{b}", "--pool-size", "-1"], "pool_size must be at least 0, got -1"),
    (["--domainA", "{a}", "--domainB", "{b}", "--lr", "-1"], "lr must be positive, got -1.0"),
    (["--domainA", "{a}", "--domainB", "{b}", "--scale-jitter", "0.5"], "scale_jitter must be at least 1.0"),
    (["--domainA", "{a}"], "give --domainA and --domainB"),
    (["--domainA", "{a}", "--domainB", "{b}", "--names", "photo"], "names must be two domain names"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, message):
    a, b = _domains(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "allbad").mkdir()
    (tmp_path / "allbad" / "one").mkdir(parents=True)
    (tmp_path / "allbad" / "x.png").write_bytes(b"garbage")
    (tmp_path / "allbad" / "one" / "y.png").write_bytes(b"more garbage")
    args = [x.format(tmp=tmp_path, a=a, b=b) for x in args]
    defaults = ["--out", str(tmp_path / "run"), "--device", "cpu", "--steps", "2", "--workers", "0", "--crop", "32",
                "--load-size", "40", "--ngf", "4", "--n-blocks", "1", "--ndf", "4"]
    try:
        code = main_cyclegan([*defaults, *args])  # later flags win, so the case's own values apply
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_resume_from_another_recipe_is_refused(tmp_path, capsys):
    a, b = _domains(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps({"recipe": "gan", "loop": {}, "gan": {}}))
    assert main_cyclegan(["--resume", str(tmp_path / "run")]) == 2
    assert "trained by recipe 'gan', not 'cyclegan'" in capsys.readouterr().err


def test_joint_calls_give_the_same_losses_as_separate_ones(tmp_path):
    a, b = _domains(tmp_path)
    results = []
    for joint in (True, False):
        torch.manual_seed(0)
        from translate.training.recipe import TrainContext

        ctx = TrainContext(torch.device("cpu"))
        recipe = CycleganRecipe(_config(a, b, pool_size=0), ctx)
        ctx.bind(recipe)
        if not joint:
            recipe._joint = lambda net, *xs, batchable: tuple(net(x) for x in xs)
        batch = {k: v[None] for k, v in recipe.data[(0, 1)].items()}
        results.append([{k: float(v) for k, v in recipe.step(batch, i).items()} for i in range(2)])
    for one, two in zip(*results):
        assert one.keys() == two.keys()
        for key in one:
            assert one[key] == pytest.approx(two[key], rel=1e-5, abs=1e-6), key


def test_a_bad_first_file_gives_way_to_the_next(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.png").write_bytes(b"not an image")
    Image.new("RGB", (9, 7), (200, 10, 10)).save(tmp_path / "d" / "b.png")
    domain = Domain(tmp_path / "d")
    assert domain.bad_files.bad == {0} and domain.image(0).size == (9, 7)
    assert domain.image(0, np.random.default_rng(0)).size == (9, 7)


def test_lr_decays_over_the_second_half_by_default():
    def loop_of(recipe, *flags):
        return resolve_configs(recipe, build_parser(recipe).parse_args(list(flags)))[0]

    assert loop_of(CycleganRecipe, "--steps", "10").lr_decay_start == 5
    assert loop_of(Pix2pixRecipe).lr_decay_start == LoopConfig.steps // 2
    assert loop_of(CycleganRecipe, "--steps", "10", "--lr-decay-start", "10").lr_decay_start == 10  # constant
    assert loop_of(GanRecipe, "--steps", "10").lr_decay_start is None


def test_ema_of_both_generators_is_what_gets_saved(tmp_path):
    a, b = _domains(tmp_path)
    recipe = train(CycleganRecipe, _config(a, b), _loop(tmp_path / "run", steps=3, ema=0.9))
    x = torch.rand(1, 3, 8, 12) * 2 - 1
    for stem in ("G_A2B", "G_B2A"):
        net, _ = load_model(tmp_path / "run" / "models" / f"{stem}.safetensors", task="translation")
        assert torch.equal(net(x), recipe.ema[stem](x))
        assert not torch.equal(net(x), recipe.nets[stem].eval()(x))


def test_a_recipes_decay_start_follows_steps_and_says_so(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text("[loop]\nsteps = 5000\nlr_decay_start = 3000\n[cyclegan]\n")
    notes = []
    args = build_parser(CycleganRecipe).parse_args(["--config", str(recipe), "--steps", "20"])
    assert resolve_configs(CycleganRecipe, args, notes)[0].lr_decay_start == 12  # 3000 / 5000 of 20 steps
    assert any("lr_decay_start follows --steps: 3000 of 5000 steps in" in note and "-> 12 of 20" in note
               for note in notes)
    fixed = build_parser(CycleganRecipe).parse_args(["--config", str(recipe), "--steps", "20",
                                                     "--lr-decay-start", "5"])
    notes = []
    assert resolve_configs(CycleganRecipe, fixed, notes)[0].lr_decay_start == 5
    assert not any("lr_decay_start" in note for note in notes)


def test_a_resumed_run_keeps_its_schedule_unless_it_ends_before_the_decay(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"recipe": "cyclegan", "loop": {"steps": 100, "lr_decay_start": 60},
                                                 "cyclegan": {}}))

    def decay(steps):
        args = build_parser(CycleganRecipe).parse_args(["--resume", str(run), "--steps", str(steps)])
        return resolve_configs(CycleganRecipe, args)[0].lr_decay_start

    assert decay(300) == 60  # a longer run goes on where it was
    assert decay(50) == 30


def test_a_cpu_run_without_network_options_takes_the_cpu_preset_and_says_so():
    def configs(*flags):
        notes = []
        _, config = resolve_configs(CycleganRecipe, build_parser(CycleganRecipe).parse_args(list(flags)), notes)
        return config, notes

    config, notes = configs("--device", "cpu")
    assert (config.crop, config.load_size, config.ngf, config.n_blocks, config.upsample) == (128, 256, 32, 6, "resize")
    assert len(notes) == 1 and notes[0].startswith("CPU preset:") and "--preset paper" in notes[0]
    config, notes = configs("--device", "cpu", "--ngf", "48")  # a network option given: the user's network
    assert (config.ngf, config.n_blocks, config.crop, notes) == (48, 9, 256, [])
    config, notes = configs("--device", "cpu", "--preset", "paper")
    assert (config.ngf, config.n_blocks, config.crop, config.upsample, notes) == (64, 9, 256, "transpose", [])
    config, notes = configs("--device", "cpu", "--preset", "cpu", "--crop", "64")  # given keys are kept
    assert (config.ngf, config.crop) == (32, 64) and "crop" not in notes[0]
    if torch.cuda.is_available():
        assert configs("--device", "cuda")[0].ngf == 64
    pix2pix = resolve_configs(Pix2pixRecipe, build_parser(Pix2pixRecipe).parse_args(["--device", "cpu"]))[1]
    assert pix2pix.ngf == 32
