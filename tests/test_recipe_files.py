"""Every recipe file in train/ is a valid recipe: its tables and values pass the same checks as a run's."""

from pathlib import Path

import pytest

from translate.cli.train import build_parser, resolve_configs
from translate.training.recipes import RECIPES

RECIPE_FILES = sorted((Path(__file__).parent.parent / "train").glob("*.toml"))


@pytest.mark.parametrize("path", RECIPE_FILES, ids=lambda p: p.name)
def test_recipe_file_resolves(path):
    import tomllib

    table = tomllib.loads(path.read_text())
    (recipe,) = [entry.recipe for name, entry in RECIPES.items() if name in table]
    args = build_parser(recipe).parse_args(["--config", str(path)])
    loop, config = resolve_configs(recipe, args)
    assert loop.out and loop.steps > 0 and config is not None
    assert "description" in table
