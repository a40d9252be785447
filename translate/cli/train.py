"""The ``train-*`` commands, one per row of the recipe table (translate.training.recipes): each parses its
flags, generated from the loop's and the recipe's config dataclasses, and hands them to the training library.

pyproject.toml's scripts name ``main_NAME`` for ``train-NAME``; these functions are made from the table on
first use (see ``__getattr__``), so a new recipe needs no code here.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from translate.cli.common import ArgumentParser, add_dataclass_flags, given_flags, parse, run_cli
from translate.training.config import LoopConfig, run_configs
from translate.training.loop import train
from translate.training.recipe import Recipe
from translate.training.recipes import RECIPES


def build_parser(recipe_cls: type[Recipe]) -> argparse.ArgumentParser:
    name = recipe_cls.name
    entry = RECIPES.get(name)
    summary = f"{entry.summary}. " if entry is not None and entry.recipe is recipe_cls else ""
    parser = ArgumentParser(
        prog=f"train-{name}",
        description=f"Train with the {name} recipe: {summary}Values come from the recipe's defaults, then "
        f"--config FILE.toml ([loop] and [{name}] tables), then a resumed run's saved config, then flags. "
        "Runs unchanged under torchrun for several GPUs or machines.",
    )
    parser.add_argument("--config", type=Path, help="TOML recipe file (see train/)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR exactly")
    add_dataclass_flags(parser, LoopConfig, "training loop")
    add_dataclass_flags(parser, recipe_cls.config_class, f"{name} recipe")
    return parser


def resolve_configs(recipe_cls: type[Recipe], args: argparse.Namespace,
                    notes: list[str] | None = None) -> tuple[LoopConfig, object]:
    """(loop config, recipe config) for parsed `args`: the library's merge of defaults, TOML file, resumed run
    and the flags that were given; what it filled in is appended to `notes`."""
    return run_configs(recipe_cls, args.config, args.resume, given_flags(args, LoopConfig),
                       given_flags(args, recipe_cls.config_class), notes)


def train_main(recipe_cls: type[Recipe], argv: Sequence[str] | None = None) -> int:
    args = parse(build_parser(recipe_cls), argv)

    def body() -> int:
        notes: list[str] = []
        loop, recipe_config = resolve_configs(recipe_cls, args, notes)
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one process says it
            for note in notes:
                print(note, file=sys.stderr)
        train(recipe_cls, recipe_config, loop, resume=args.resume is not None)
        return 0

    return run_cli(body)


def command(name: str) -> Callable[[Sequence[str] | None], int]:
    """The ``train-NAME`` command's function for recipe `name` of the table."""
    entry = RECIPES[name]

    def main(argv: Sequence[str] | None = None) -> int:
        return train_main(entry.recipe, argv)

    main.__name__ = main.__qualname__ = f"main_{name}"
    main.__doc__ = f"train-{name}: {entry.summary}"
    return main


def __getattr__(attr: str) -> Callable[[Sequence[str] | None], int]:
    """``main_NAME`` for every recipe NAME in the table (what pyproject.toml's ``train-NAME`` scripts import)."""
    name = attr.removeprefix("main_")
    if attr.startswith("main_") and name in RECIPES:
        return command(name)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
