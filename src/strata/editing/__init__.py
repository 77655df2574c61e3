"""Editing a layer stack: operations, recursive decomposition and replayable JSON recipes.

>>> from strata.editing import ops, parse_recipe, apply_recipe
>>> recipe = parse_recipe('{"version": 1, "operations": [{"op": "move", "layer": 1, "dx": 4, "dy": 0}]}')
>>> len(recipe.operations)
1
"""

from strata.editing.recipe import Recipe, apply_recipe, load_recipe, parse_recipe, save_recipe
from strata.editing.records import for_export, visible_composite
from strata.editing.recursive import decompose_layer

__all__ = [
    "Recipe",
    "apply_recipe",
    "decompose_layer",
    "for_export",
    "load_recipe",
    "parse_recipe",
    "save_recipe",
    "visible_composite",
]
