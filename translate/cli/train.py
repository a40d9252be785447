"""The ``train-*`` commands: one parser shape for every recipe, flags generated from its config."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from translate.cli.common import ArgumentParser, add_dataclass_flags, given_flags, parse, run_cli
from translate.errors import ConfigError
from translate.training.config import LoopConfig, build_config, read_toml
from translate.training.cut import CutRecipe
from translate.training.cyclegan import CycleganRecipe
from translate.training.gan import GanRecipe
from translate.training.loop import CONFIG_FILE, train
from translate.training.pix2pix import Pix2pixRecipe
from translate.training.recipe import Recipe
from translate.training.srgan import SrganRecipe


def build_parser(recipe_cls: type[Recipe]) -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=f"train-{recipe_cls.name}",
        description=f"Train with the {recipe_cls.name} recipe. Values come from the recipe's defaults, then "
        "--config FILE.toml ([loop] and [%s] tables), then a resumed run's saved config, then flags. "
        "Runs unchanged under torchrun for several GPUs or machines." % recipe_cls.name,
    )
    parser.add_argument("--config", type=Path, help="TOML recipe file (see train/)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR exactly")
    add_dataclass_flags(parser, LoopConfig, "training loop")
    add_dataclass_flags(parser, recipe_cls.config_class, f"{recipe_cls.name} recipe")
    return parser


def resolve_configs(recipe_cls: type[Recipe], args: argparse.Namespace) -> tuple[LoopConfig, object]:
    """Merge defaults, TOML file, resumed run and flags into (loop config, recipe config)."""
    name = recipe_cls.name
    loop_values: dict = {}
    recipe_values: dict = {}
    if args.config and args.resume:
        raise ConfigError("give --config for a new run or --resume for an old one, not both")
    if args.config:
        table = read_toml(args.config)
        extra = sorted(set(table) - {"loop", name, "expect", "description"})
        if name not in table and extra:
            raise ConfigError(f"{args.config}: has no [{name}] table; it is not a train-{name} recipe")
        if extra:
            raise ConfigError(f"{args.config}: unknown table(s) {', '.join(extra)}")
        loop_values, recipe_values = dict(table.get("loop", {})), dict(table.get(name, {}))
    if args.resume:
        saved_path = args.resume / CONFIG_FILE
        if not saved_path.is_file():
            raise ConfigError(f"--resume {args.resume}: no {CONFIG_FILE} there; not a run folder")
        try:
            saved = json.loads(saved_path.read_text())
        except ValueError as err:
            raise ConfigError(f"--resume {args.resume}: {CONFIG_FILE} is not valid JSON ({err})") from None
        if not isinstance(saved, dict) or "loop" not in saved or saved.get("recipe") not in saved:
            raise ConfigError(f"--resume {args.resume}: {CONFIG_FILE} lacks the recipe, loop or recipe settings")
        if given_flags(args, LoopConfig).get("out") not in (None, str(args.resume)):
            raise ConfigError("--resume continues a run in its own folder; drop --out")
        if saved.get("recipe") != name:
            raise ConfigError(
                f"--resume {args.resume}: that run was trained by recipe {saved.get('recipe')!r}, "
                f"not {name!r}; use train-{saved.get('recipe')}"
            )
        loop_values, recipe_values = saved["loop"], saved[name]
        loop_values["out"] = str(args.resume)
    from_file = dict(loop_values)
    loop_values.update(given_flags(args, LoopConfig))
    steps = loop_values.get("steps", LoopConfig.steps)
    decay = loop_values.get("lr_decay_start")
    if ("lr_decay_start" in from_file and "lr_decay_start" not in given_flags(args, LoopConfig)
            and isinstance(decay, int) and isinstance(steps, int) and not 0 <= decay <= steps):
        raise ConfigError(f"lr_decay_start = {decay} (from {args.config or args.resume}) is past --steps {steps}; "
                          f"pass --lr-decay-start N with N in 0..{steps} as well (e.g. {steps // 2})")
    if recipe_cls.lr_decay_from_half and "lr_decay_start" not in loop_values and isinstance(steps, int):
        loop_values["lr_decay_start"] = steps // 2
    recipe_values.update(given_flags(args, recipe_cls.config_class))
    source = str(args.config or args.resume or "flags")
    return (build_config(LoopConfig, loop_values, source),
            build_config(recipe_cls.config_class, recipe_values, source))


def train_main(recipe_cls: type[Recipe], argv: Sequence[str] | None = None) -> int:
    args = parse(build_parser(recipe_cls), argv)

    def body() -> int:
        loop, recipe_config = resolve_configs(recipe_cls, args)
        train(recipe_cls, recipe_config, loop, resume=args.resume is not None)
        return 0

    return run_cli(body)


def main_gan(argv: Sequence[str] | None = None) -> int:
    """train-gan: unconditional and class-conditional GANs (see train/*digits*.toml)."""
    return train_main(GanRecipe, argv)


def main_srgan(argv: Sequence[str] | None = None) -> int:
    """train-srgan: SRResNet / SRGAN super-resolution (see train/srresnet-x4-bsd68.toml)."""
    return train_main(SrganRecipe, argv)


def main_cyclegan(argv: Sequence[str] | None = None) -> int:
    """train-cyclegan: unpaired translation, e.g. --domainA photos --domainB vangogh."""
    return train_main(CycleganRecipe, argv)


def main_pix2pix(argv: Sequence[str] | None = None) -> int:
    """train-pix2pix: paired translation, e.g. --data datasets/data/facades/train."""
    return train_main(Pix2pixRecipe, argv)


def main_cut(argv: Sequence[str] | None = None) -> int:
    """train-cut: unpaired translation A -> B with one generator (CUT / FastCUT), e.g. train/cut-vangogh-cpu.toml."""
    return train_main(CutRecipe, argv)
