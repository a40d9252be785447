"""The table of training recipes: one row per recipe, from which the ``train-NAME`` commands are built.

Adding a recipe is a module in this package (its config dataclass and :class:`Recipe` subclass), a TOML file in
train/, its tests and one row here (plus its ``train-NAME`` line in pyproject.toml's scripts); see
train/README.md.
"""

from __future__ import annotations

from typing import NamedTuple

from translate.training.cut import CutRecipe
from translate.training.cyclegan import CycleganRecipe
from translate.training.gan import GanRecipe
from translate.training.pix2pix import Pix2pixRecipe
from translate.training.recipe import Recipe
from translate.training.srgan import SrganRecipe


class RecipeEntry(NamedTuple):
    recipe: type[Recipe]
    summary: str
    """One line on what the recipe trains, the start of its command's --help."""


RECIPES: dict[str, RecipeEntry] = {entry.recipe.name: entry for entry in (
    RecipeEntry(GanRecipe, "unconditional and class-conditional GANs on digits or image folders"),
    RecipeEntry(SrganRecipe, "SRResNet / SRGAN super-resolution"),
    RecipeEntry(CycleganRecipe, "unpaired translation in both directions (CycleGAN)"),
    RecipeEntry(Pix2pixRecipe, "paired translation (pix2pix)"),
    RecipeEntry(CutRecipe, "unpaired translation A -> B with one generator (CUT / FastCUT)"),
)}
"""Recipe name -> its class and summary."""
