"""The recipe table and the run settings: every train-* command comes from the table, and a run started from
Python is the run its command gives (same defaults, same checks, same saved config, same weights)."""

import dataclasses
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

import translate.cli.train as cli_train
from translate.errors import ConfigError
from translate.training.config import LoopConfig, run_configs
from translate.training.cyclegan import CycleganConfig, CycleganRecipe
from translate.training.gan import GanConfig, GanRecipe
from translate.training.loop import train
from translate.training.recipes import RECIPES

REPO = Path(__file__).parent.parent

# the same tiny run, as Python values and as the flags of train-cyclegan
TINY_LOOP = dict(device="cpu", steps=4, batch_size=2, workers=0, progress=False, tensorboard=False, log_every=1,
                 sample_every=4, checkpoint_every=100)
TINY_CYCLEGAN = dict(crop=32, load_size=40, ngf=4, n_blocks=1, ndf=4, upsample="resize", min_items=8, pool_size=3)


def _flags(values: dict) -> list[str]:
    flags = []
    for key, value in values.items():
        flag = "--" + key.replace("_", "-")
        flags += [flag if value else "--no-" + flag[2:]] if isinstance(value, bool) else [flag, str(value)]
    return flags


def _domains(tmp_path: Path) -> tuple[str, str]:
    rng = np.random.default_rng(0)
    for name, count in (("photos", 3), ("paintings", 2)):
        (tmp_path / name).mkdir()
        for i in range(count):
            pixels = rng.integers(0, 255, (36 + 4 * i, 44, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    return str(tmp_path / "photos"), str(tmp_path / "paintings")


def _cli_cyclegan(out: Path, a: str, b: str, *extra: str) -> int:
    return cli_train.main_cyclegan(["--out", str(out), *_flags(TINY_LOOP), "--domainA", a, "--domainB", b,
                                    *_flags(TINY_CYCLEGAN), *extra])


def _saved(run: Path) -> dict:
    config = json.loads((run / "config.json").read_text())
    del config["loop"]["out"]
    return config


def _assert_same_weights(one: Path, two: Path) -> None:
    models = sorted(p.name for p in (one / "models").iterdir())
    assert models == sorted(p.name for p in (two / "models").iterdir()) == ["G_A2B.safetensors", "G_B2A.safetensors"]
    for name in [*(f"models/{m}" for m in models), "checkpoint.safetensors"]:
        x, y = load_file(one / name), load_file(two / name)
        assert x.keys() == y.keys(), name
        for key in x:
            assert torch.equal(x[key], y[key]), (name, key)
    # the rest of the training state: step, optimiser settings, image pools' layout, RNG positions
    with safe_open(one / "checkpoint.safetensors", "pt") as x, safe_open(two / "checkpoint.safetensors", "pt") as y:
        assert x.metadata() == y.metadata()


def test_every_train_command_is_a_row_of_the_table():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    commands = {k: v for k, v in scripts.items() if k.startswith("train-")}
    assert commands == {f"train-{name}": f"translate.cli.train:main_{name}" for name in RECIPES}
    for name, entry in RECIPES.items():
        assert entry.recipe.name == name
        main = getattr(cli_train, f"main_{name}")
        assert main.__name__ == f"main_{name}" and entry.summary in main.__doc__
        parser = cli_train.build_parser(entry.recipe)
        assert parser.prog == f"train-{name}" and entry.summary in parser.description
    with pytest.raises(AttributeError, match="main_nope"):
        cli_train.main_nope  # noqa: B018


def test_python_and_the_command_line_train_the_same_run(tmp_path):
    a, b = _domains(tmp_path)
    recipe = train(CycleganRecipe, CycleganConfig(domainA=a, domainB=b, **TINY_CYCLEGAN),
                   LoopConfig(out=str(tmp_path / "python"), **TINY_LOOP))
    assert _cli_cyclegan(tmp_path / "cli", a, b) == 0
    saved = _saved(tmp_path / "python")
    assert saved["loop"]["lr_decay_start"] == 2  # CycleGAN decays over the second half from Python too
    assert saved == _saved(tmp_path / "cli")
    _assert_same_weights(tmp_path / "python", tmp_path / "cli")
    logs = [[{k: v for k, v in json.loads(line).items() if k != "seconds"}
             for line in (tmp_path / run / "log.jsonl").read_text().splitlines()] for run in ("python", "cli")]
    assert logs[0] == logs[1] and [r["lr_factor"] for r in logs[0]] == [1.0, 1.0, 1.0, 0.5]
    assert recipe.optimizers["G"].param_groups[0]["lr"] == 0.5 * CycleganConfig.lr  # the last step's: 1 - 1 / 2


def test_resuming_from_python_and_the_command_line_is_the_same(tmp_path):
    a, b = _domains(tmp_path)
    assert _cli_cyclegan(tmp_path / "first", a, b, "--steps", "2") == 0
    for run in ("python", "cli"):
        (tmp_path / run).mkdir()
        for name in ("config.json", "checkpoint.safetensors"):
            (tmp_path / run / name).write_bytes((tmp_path / "first" / name).read_bytes())
    loop, config = run_configs(CycleganRecipe, resume=tmp_path / "python", loop_values={"steps": 4})
    assert loop.lr_decay_start == 1  # the saved schedule, not the default for 4 steps
    train(CycleganRecipe, config, loop, resume=True)
    assert cli_train.main_cyclegan(["--resume", str(tmp_path / "cli"), "--steps", "4"]) == 0
    assert _saved(tmp_path / "python") == _saved(tmp_path / "cli")
    _assert_same_weights(tmp_path / "python", tmp_path / "cli")


# config.json as runs saved it before the recipe table (the background CycleGAN run's, shortened paths)
TODAYS_CONFIG = {
    "recipe": "cyclegan",
    "loop": {"out": "runs/cyclegan-vangogh2photo-cpu", "steps": 30000, "batch_size": 1, "seed": 0, "device": "auto",
             "amp": "auto", "channels_last": False, "compile": False, "compile_mode": "default", "tf32": True,
             "ema": 0.0, "lr_decay_start": 15000, "log_every": 50, "sample_every": 500, "checkpoint_every": 250,
             "workers": 0, "progress": True, "tensorboard": True},
    "cyclegan": {"domainA": "data/trainB", "domainB": "data/trainA", "dataroot": None, "names": ["photos", "vangogh"],
                 "crop": 128, "load_size": 256, "scale_jitter": 1.0, "flip": True, "min_items": 200, "hold_out": 100,
                 "ngf": 32, "n_blocks": 6, "norm": "instance", "upsample": "resize", "ndf": 64, "d_layers": 3,
                 "discriminator": "patch", "spectral_norm": False, "gan_loss": "lsgan", "lambda_cycle": 10.0,
                 "lambda_identity": 0.5, "pool_size": 50, "lr": 0.0002, "beta1": 0.5, "beta2": 0.999},
}


def test_a_config_json_of_todays_runs_resumes_with_its_settings(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(TODAYS_CONFIG, indent=2))
    args = cli_train.build_parser(CycleganRecipe).parse_args(["--resume", str(run), "--steps", "40000"])
    loop, config = cli_train.resolve_configs(CycleganRecipe, args)
    assert (loop, config) == run_configs(CycleganRecipe, resume=run, loop_values={"steps": 40000})
    # keys added since take their defaults
    expected_loop = {**TODAYS_CONFIG["loop"], "out": str(run), "steps": 40000, "checkpoint_minutes": 10.0,
                     "preset": "auto"}
    assert dataclasses.asdict(loop) == expected_loop  # lr_decay_start stays the saved 15000
    assert json.loads(json.dumps(dataclasses.asdict(config))) == TODAYS_CONFIG["cyclegan"]
    notes = []  # fewer steps than the saved decay start: it moves in proportion, and says so
    assert run_configs(CycleganRecipe, resume=run, loop_values={"steps": 10000}, notes=notes)[0].lr_decay_start == 5000
    assert "lr_decay_start follows --steps: 15000 of 30000 steps in" in notes[0]
    loop, _ = run_configs(CycleganRecipe, resume=run, loop_values={"steps": 10000, "lr_decay_start": 5000})
    assert loop.lr_decay_start == 5000


def test_python_gets_the_commands_checks(tmp_path):
    recipe_file = tmp_path / "r.toml"
    recipe_file.write_text("[loop]\nsteps = 5000\nlr_decay_start = 3000\n[cyclegan]\n")
    assert run_configs(CycleganRecipe, recipe_file, loop_values={"steps": 20})[0].lr_decay_start == 12
    with pytest.raises(ConfigError, match="r.toml: has no \\[gan\\] table; it is not a train-gan recipe"):
        run_configs(GanRecipe, recipe_file)
    assert run_configs(CycleganRecipe, recipe_file)[0].lr_decay_start == 3000
    assert run_configs(CycleganRecipe, loop_values={"steps": 10})[0].lr_decay_start == 5
    assert run_configs(GanRecipe, loop_values={"steps": 10})[0].lr_decay_start is None  # GANs keep it constant
    # continuing another recipe's run: refused by the loop itself, in the words the command uses
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(TODAYS_CONFIG))
    (run / "checkpoint.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"trained by recipe 'cyclegan', not 'gan'; use train-cyclegan"):
        train(GanRecipe, GanConfig(), LoopConfig(out=str(run), device="cpu"), resume=True)
    with pytest.raises(ConfigError, match=r"trained by recipe 'cyclegan', not 'gan'; use train-cyclegan"):
        run_configs(GanRecipe, resume=run)


@pytest.mark.parametrize("config_cls", [LoopConfig, *(entry.recipe.config_class for entry in RECIPES.values())],
                         ids=lambda cls: cls.__name__)
def test_allowed_values_are_declared_once_for_flag_and_check(config_cls):
    """The flag offers, and the config accepts, the choices its field declares, and nothing else."""
    recipe = next((e.recipe for e in RECIPES.values() if e.recipe.config_class is config_cls), GanRecipe)
    actions = {a.dest: a for a in cli_train.build_parser(recipe)._actions}
    declared = [f for f in dataclasses.fields(config_cls) if "choices" in f.metadata]
    assert declared
    for f in declared:
        choices = f.metadata["choices"]
        assert tuple(actions[f"{config_cls.__name__}.{f.name}"].choices) == choices, f.name
        bad = "bogus" if isinstance(choices[0], str) else max(choices) + 1
        with pytest.raises(ConfigError, match=f"^{f.name} must be one of {', '.join(map(str, choices))}, got"):
            dataclasses.replace(config_cls(), **{f.name: bad})
        for good in choices:
            if not (f.name == "compile_mode" or (f.name == "gan_loss" and good == "wgan_gp")):  # refused with reasons
                dataclasses.replace(config_cls(), **{f.name: good})
