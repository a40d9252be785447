"""Every recipe file in train/ is a valid recipe: its tables and values pass the same checks as a run's."""

import tomllib
from pathlib import Path

import pytest

from translate.cli.train import build_parser, resolve_configs
from translate.training.recipes import RECIPES

RECIPE_FILES = sorted((Path(__file__).parent.parent / "train").glob("*.toml"))


def _recipe(table: dict) -> type:
    (recipe,) = [entry.recipe for name, entry in RECIPES.items() if name in table]
    return recipe


@pytest.mark.parametrize("path", RECIPE_FILES, ids=lambda p: p.name)
def test_recipe_file_resolves(path):
    table = tomllib.loads(path.read_text())
    recipe = _recipe(table)
    args = build_parser(recipe).parse_args(["--config", str(path)])
    loop, config = resolve_configs(recipe, args)
    assert loop.out and loop.steps > 0 and config is not None
    assert "description" in table


@pytest.mark.parametrize("path", RECIPE_FILES, ids=lambda p: p.name)
def test_recipe_file_runs_with_steps_alone(path):
    recipe = _recipe(tomllib.loads(path.read_text()))
    loop, _ = resolve_configs(recipe, build_parser(recipe).parse_args(["--config", str(path), "--steps", "3"]))
    assert loop.steps == 3 and (loop.lr_decay_start is None or 0 <= loop.lr_decay_start <= 3)
