"""Edit recipes: the list of operations applied to a layer stack, as JSON.

A recipe is what the web page records and what ``strata edit --recipe`` replays; the server applies it
for exports, so the pixels always come from this one implementation::

    {"version": 1,
     "source": {"width": 800, "height": 600, "layers": 4},
     "operations": [
        {"op": "move", "layer": 2, "dx": 12, "dy": -4},
        {"op": "tint", "layer": 3, "color": "#1e90ff"},
        {"op": "visibility", "layer": 1, "visible": false}]}

Layers are addressed by index, back to front (0 is the bottom), as they are when each operation runs.
The JSON is validated here, at the edge, with pydantic (unknown fields are refused); inside, operations
are plain functions of :mod:`strata.editing.ops`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from strata.editing import ops
from strata.editing.recursive import decompose_layer
from strata.errors import InvalidInput, InvalidParameter
from strata.layers import LayerStack

RECIPE_VERSION: Literal[1] = 1
#: Operations in one recipe (a page session that long is already unusual).
MAX_OPERATIONS = 10_000

Index = Annotated[int, Field(ge=0, le=999)]


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    layer: Index


class Move(_Op):
    op: Literal["move"] = "move"
    dx: float = Field(ge=-100_000, le=100_000)
    dy: float = Field(ge=-100_000, le=100_000)


class Scale(_Op):
    op: Literal["scale"] = "scale"
    sx: float = Field(ge=ops.MIN_SCALE, le=ops.MAX_SCALE)
    sy: float | None = Field(None, ge=ops.MIN_SCALE, le=ops.MAX_SCALE)
    cx: float | None = None
    cy: float | None = None


class Rotate(_Op):
    op: Literal["rotate"] = "rotate"
    #: Clockwise, as seen on screen.
    degrees: float = Field(ge=-3600, le=3600)
    cx: float | None = None
    cy: float | None = None


class HueShift(_Op):
    op: Literal["hueShift"] = "hueShift"
    degrees: float = Field(ge=-360, le=360)


class Tint(_Op):
    op: Literal["tint"] = "tint"
    #: ``#rrggbb``.
    color: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    strength: float = Field(1.0, ge=0, le=1)


class BrightnessContrast(_Op):
    op: Literal["brightnessContrast"] = "brightnessContrast"
    brightness: float = Field(0.0, ge=-1, le=1)
    contrast: float = Field(1.0, ge=0, le=4)


class Opacity(_Op):
    op: Literal["opacity"] = "opacity"
    opacity: float = Field(ge=0, le=1)


class Visibility(_Op):
    op: Literal["visibility"] = "visibility"
    visible: bool


class Rename(_Op):
    op: Literal["rename"] = "rename"
    name: str = Field(min_length=1, max_length=200)


class Delete(_Op):
    op: Literal["delete"] = "delete"


class Reorder(_Op):
    op: Literal["reorder"] = "reorder"
    to: Index


class Duplicate(_Op):
    op: Literal["duplicate"] = "duplicate"


class MergeDown(_Op):
    op: Literal["mergeDown"] = "mergeDown"


class Decompose(_Op):
    op: Literal["decompose"] = "decompose"
    #: Number of sub-layers.
    layers: int = Field(ge=2, le=20)
    engine: str = "classic"
    options: dict[str, Any] = Field(default_factory=dict)


Operation = Annotated[
    Move
    | Scale
    | Rotate
    | HueShift
    | Tint
    | BrightnessContrast
    | Opacity
    | Visibility
    | Rename
    | Delete
    | Reorder
    | Duplicate
    | MergeDown
    | Decompose,
    Field(discriminator="op"),
]


class Source(BaseModel):
    """The stack a recipe was recorded on; checked when it is replayed."""

    model_config = ConfigDict(extra="forbid")
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    layers: int = Field(ge=1)


class Recipe(BaseModel):
    """A versioned list of edit operations."""

    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = RECIPE_VERSION
    source: Source | None = None
    operations: list[Operation] = Field(default_factory=list, max_length=MAX_OPERATIONS)

    @field_validator("version", mode="before")
    @classmethod
    def _known_version(cls, value: object) -> object:
        if value != RECIPE_VERSION:
            raise ValueError(
                f"unsupported recipe version {value!r}; this strata reads version {RECIPE_VERSION}"
            )
        return value


def parse_recipe(data: str | bytes | dict[str, Any]) -> Recipe:
    """Validate recipe JSON (text or already parsed); errors are one-line :class:`InvalidParameter`."""
    try:
        if isinstance(data, dict):
            return Recipe.model_validate(data)
        return Recipe.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "recipe"
        raise InvalidParameter(
            f"bad edit recipe at {where}: {first['msg']}", parameter=f"recipe.{where}"
        ) from None


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file."""
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the recipe {path}: {exc.strerror}") from None
    return parse_recipe(text)


def save_recipe(recipe: Recipe, path: str | Path) -> Path:
    """Write ``recipe`` as indented JSON (atomically)."""
    from strata.exporters import atomic_write

    target = Path(path)
    return atomic_write(target, (recipe.model_dump_json(indent=2, exclude_none=True) + "\n").encode())


def source_of(stack: LayerStack) -> Source:
    """The :class:`Source` describing ``stack``, to record in a new recipe."""
    return Source(width=stack.size[0], height=stack.size[1], layers=len(stack))


def apply_recipe(
    stack: LayerStack, recipe: Recipe, *, engines: Callable[[str], Any] | None = None
) -> LayerStack:
    """Replay ``recipe`` on ``stack``; ``engines(name)`` supplies engines for ``decompose`` steps.

    An operation that fails names its position: ``operation 3 (move): layer must be ...``.
    """
    _check_source(stack, recipe.source)
    for position, operation in enumerate(recipe.operations):
        try:
            stack = apply_operation(stack, operation, engines=engines)
        except InvalidParameter as exc:
            raise InvalidParameter(
                f"operation {position} ({operation.op}): {exc.message}",
                parameter=f"recipe.operations[{position}]",
            ) from None
    return stack


def apply_operation(
    stack: LayerStack, operation: Operation, *, engines: Callable[[str], Any] | None = None
) -> LayerStack:
    """Apply one validated operation."""
    o = operation
    match o:
        case Move():
            return ops.move(stack, o.layer, o.dx, o.dy)
        case Scale():
            return ops.scale(stack, o.layer, o.sx, o.sy, o.cx, o.cy)
        case Rotate():
            return ops.rotate(stack, o.layer, o.degrees, o.cx, o.cy)
        case HueShift():
            return ops.hue_shift(stack, o.layer, o.degrees)
        case Tint():
            rgb = tuple(int(o.color[i : i + 2], 16) for i in (1, 3, 5))
            return ops.tint(stack, o.layer, rgb, o.strength)  # type: ignore[arg-type]
        case BrightnessContrast():
            return ops.brightness_contrast(stack, o.layer, o.brightness, o.contrast)
        case Opacity():
            return ops.set_opacity(stack, o.layer, o.opacity)
        case Visibility():
            return ops.set_visible(stack, o.layer, o.visible)
        case Rename():
            return ops.rename(stack, o.layer, o.name)
        case Delete():
            return ops.delete(stack, o.layer)
        case Reorder():
            return ops.reorder(stack, o.layer, o.to)
        case Duplicate():
            return ops.duplicate(stack, o.layer)
        case MergeDown():
            return ops.merge_down(stack, o.layer)
        case Decompose():
            engine = engines(o.engine) if engines else o.engine
            return decompose_layer(stack, o.layer, o.layers, engine=engine, options=o.options)
    raise InvalidParameter(f"unknown operation {operation!r}")  # pragma: no cover - the union is closed


def _check_source(stack: LayerStack, source: Source | None) -> None:
    if source is None:
        return
    width, height = stack.size
    if (source.width, source.height, source.layers) != (width, height, len(stack)):
        raise InvalidParameter(
            f"the recipe was recorded on {source.layers} layers of {source.width}x{source.height}, "
            f"these are {len(stack)} layers of {width}x{height}",
            parameter="recipe.source",
        )
