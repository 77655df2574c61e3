"""Runware's ``imageInference`` on the wire: pydantic models, then validation into an :class:`InferenceSpec`.

Two passes. The pydantic models check types and ranges of every parameter of the model page (strict
types: ``"20"`` is not a number). :func:`parse_inference` then checks what depends on the model: the
engine's layer range and options, the output format, the single reference image. Each failure is one
:class:`~strata.errors.StrataError` naming the offending ``parameter``; :mod:`strata.api.errors` turns it
into Runware's error object. Unknown keys are ignored, as the spec asks of a lenient server; known
Runware features no strata engine has (``controlNet``, ``maskImage``...) get ``unsupportedParameter``.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from strata.api.errors import from_validation
from strata.api.models import resolve_model
from strata.config import Settings
from strata.engines import Engine
from strata.errors import InvalidParameter, StrataError, UnsupportedParameter
from strata.tasks.engines import EnginePool
from strata.tasks.records import InferenceSpec

Prompt = Annotated[str, StringConstraints(min_length=1, max_length=32000)]
Unit = Annotated[float, Field(ge=0, le=1)]
Percent = Annotated[float, Field(ge=0, le=100)]
Step = Annotated[int, Field(ge=0)]
MAX_SEED = 2**63 - 1
OUTPUT_TYPES = ["URL", "dataURI", "base64Data"]
OUTPUT_FORMATS = ["TIFF", "PNG", "WEBP", "JPG", "PSD", "ZIP", "ORA"]
_FORMAT_ALIASES = {"JPEG": "JPG", "TIF": "TIFF"}
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)

#: Wire parameter → engine option, passed only when the engine declares the option (else ignored).
OPTIONAL_OPTIONS = {"positivePrompt": "prompt", "negativePrompt": "negative_prompt"}
#: Wire parameter → engine option; an engine without the option answers ``unsupportedParameter``.
ENGINE_OPTIONS = {
    "steps": "steps",
    "scheduler": "scheduler",
    "CFGScale": "cfg_scale",
    "settings.trueCFGScale": "true_cfg_scale",
    "lora": "lora",
    "acceleratorOptions": "accelerators",
    "advancedFeatures.ultralytics": "ultralytics",
    "ultralytics": "ultralytics",
}
#: Runware features of other model families: refused rather than silently ignored.
FOREIGN_FEATURES = [
    "controlNet",
    "ipAdapters",
    "lycoris",
    "embeddings",
    "refiner",
    "outpaint",
    "instantID",
    "puLID",
    "photoMaker",
    "acePlusPlus",
    "maskImage",
    "seedImage",
    "strength",
    "vae",
    "upscaleFactor",
    "maskMargin",
    "clipSkip",
    "promptWeighting",
]
_FOREIGN_ADVANCED = ("layerDiffuse", "hiresFix", "fluxKontext", "regionalPrompting", "watermark")
_ACCELERATOR_ALIASES = {
    "fbcache": "fbCache",
    "cacheDistance": "fbCacheThreshold",
    "cacheStopStep": "cacheEndStep",
}


class Wire(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class LoraWire(Wire):
    model: Annotated[str, StringConstraints(min_length=1)]
    weight: float = Field(1.0, ge=-4, le=4)
    transformer: Literal["both", "high", "low"] = "both"


class AcceleratorWire(Wire):
    """Step-caching options; the SDK's alias names (``fbcache``, ``cacheDistance``, ``cacheStopStep``) too."""

    fbCache: bool | None = None
    fbCacheThreshold: Unit | None = None
    teaCache: bool | None = None
    teaCacheDistance: Unit | None = None
    dbCache: bool | None = None
    dbCacheThreshold: Unit | None = None
    dbCacheSkipInterval: Annotated[int, Field(ge=1)] | None = None
    cacheStartStep: Step | None = None
    cacheEndStep: Step | None = None
    cacheStartStepPercentage: Percent | None = None
    cacheEndStepPercentage: Percent | None = None
    cacheMaxConsecutiveSteps: Annotated[int, Field(ge=1, le=5)] | None = None
    fbcache: bool | None = None
    cacheDistance: Unit | None = None
    cacheStopStep: Step | None = None
    deepCache: bool | None = None


class SafetyWire(Wire):
    checkContent: bool = False
    checkInputs: bool | None = None
    mode: Literal["none", "fast"] | None = None


class SettingsWire(Wire):
    layers: int | None = None
    trueCFGScale: float | None = Field(None, ge=1, le=20)


class InputsWire(Wire):
    referenceImages: list[Any] | None = None


class AdvancedWire(Wire):
    ultralytics: dict[str, Any] | None = None


class InferenceWire(Wire):
    taskType: Literal["imageInference"]
    taskUUID: str
    model: Annotated[str, StringConstraints(min_length=1)]
    positivePrompt: Prompt | None = None
    negativePrompt: Prompt | None = None
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    steps: int | None = Field(None, ge=1, le=50)
    scheduler: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    CFGScale: float | None = Field(None, ge=1, le=20)
    width: int | None = Field(None, ge=128, le=2048, multiple_of=16)
    height: int | None = Field(None, ge=128, le=2048, multiple_of=16)
    numberResults: int | None = Field(None, ge=1, le=20)
    outputType: Any = None
    outputFormat: str | None = None
    outputQuality: int | None = Field(None, ge=20, le=99)
    ttl: int | None = Field(None, ge=60)
    includeCost: bool = False
    deliveryMethod: Literal["sync", "async"] = "sync"
    webhookURL: str | None = None
    uploadEndpoint: str | None = None
    safety: SafetyWire | None = None
    inputs: InputsWire | None = None
    referenceImages: list[Any] | None = None
    lora: list[LoraWire] | None = None
    acceleratorOptions: AcceleratorWire | None = None
    advancedFeatures: AdvancedWire | None = None
    ultralytics: dict[str, Any] | None = None
    settings: SettingsWire | None = None

    _uuid = field_validator("taskUUID")(lambda value: check_uuid4(value))

    @field_validator("CFGScale")
    @classmethod
    def _hundredths(cls, value: float | None) -> float | None:
        if value is not None and abs(value * 100 - round(value * 100)) > 1e-6:
            raise ValueError("must be a multiple of 0.01")
        return value

    @field_validator("webhookURL", "uploadEndpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 2048 or not _URL.match(value)):
            raise ValueError("must be an http(s) URL")
        return value


class UploadWire(Wire):
    taskType: Literal["imageUpload"]
    taskUUID: str
    image: Annotated[str, StringConstraints(min_length=1)]

    _uuid = field_validator("taskUUID")(lambda value: check_uuid4(value))


def check_uuid4(value: str) -> str:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise ValueError("must be a UUID v4") from None
    if parsed.version != 4:
        raise ValueError("must be a UUID v4")
    return value


def parse_upload(task: dict[str, Any]) -> UploadWire:
    try:
        return UploadWire.model_validate(task)
    except ValidationError as exc:
        raise from_validation(exc) from None


def parse_inference(
    task: dict[str, Any], settings: Settings, pool: EnginePool, base_url: str
) -> InferenceSpec:
    """Validate one ``imageInference`` task object; raise the first problem as a StrataError."""
    try:
        wire = InferenceWire.model_validate(task)
    except ValidationError as exc:
        raise from_validation(exc) from None
    model, engine = resolve_model(wire.model, settings, pool)
    reject_foreign(wire)
    output_types = parse_output_types(wire.outputType)
    check_content = bool(
        wire.safety
        and (wire.safety.mode == "fast" or (wire.safety.checkContent and wire.safety.mode != "none"))
    )
    if check_content and settings.safety_model_path is None:
        raise UnsupportedParameter(
            "content checking is not configured on this server: set STRATA_SAFETY_MODEL_PATH to a local "
            "image-classification model",
            parameter="safety.checkContent",
        )
    return InferenceSpec(
        task_uuid=wire.taskUUID,
        model=model.air,
        engine=model.engine,
        reference=parse_reference(wire),
        layers=parse_layers(wire, engine),
        number_results=wire.numberResults or 1,
        seed=wire.seed,
        width=wire.width,
        height=wire.height,
        steps=wire.steps,
        output_types=output_types,
        output_format=parse_output_format(wire.outputFormat),
        output_quality=wire.outputQuality or 95,
        ttl=wire.ttl,
        include_cost=wire.includeCost,
        delivery=wire.deliveryMethod,
        webhook_url=wire.webhookURL,
        upload_endpoint=wire.uploadEndpoint,
        check_content=check_content,
        engine_options=engine_options(wire, engine),
        fingerprint=fingerprint(task),
        base_url=base_url,
    )


def fingerprint(task: dict[str, Any]) -> str:
    """Stable hash of a task object: the same request re-sent after a reconnect has the same one."""
    return hashlib.sha256(json.dumps(task, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def parse_layers(wire: InferenceWire, engine: Engine) -> int:
    caps = engine.capabilities
    layers = (
        wire.settings.layers if wire.settings and wire.settings.layers is not None else caps.default_layers
    )
    if not caps.min_layers <= layers <= caps.max_layers:
        raise InvalidParameter(
            f"invalid value for settings.layers: must be between {caps.min_layers} and {caps.max_layers} "
            f"for {wire.model} (got {layers})",
            parameter="settings.layers",
            code="invalidLayers",
        )
    return layers


def parse_reference(wire: InferenceWire) -> str:
    """The one reference image: ``inputs.referenceImages`` (or the legacy top-level ``referenceImages``)."""
    name = "inputs.referenceImages"
    refs = wire.inputs.referenceImages if wire.inputs and wire.inputs.referenceImages is not None else None
    if refs is None and wire.referenceImages is not None:
        name, refs = "referenceImages", wire.referenceImages
    if refs is None:
        raise InvalidParameter(
            "missing required parameter inputs.referenceImages: the image to decompose",
            parameter=name,
            code="missingReferenceImages",
        )
    if len(refs) != 1:
        raise InvalidParameter(
            f"invalid value for {name}: exactly one image is required (got {len(refs)})",
            parameter=name,
            code="invalidReferenceImages",
        )
    ref = refs[0]["image"] if isinstance(refs[0], dict) and "image" in refs[0] else refs[0]
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidParameter(
            f"invalid value for {name}: an image UUID, URL, data URI or base64 string is required",
            parameter=name,
            code="invalidReferenceImages",
        )
    return ref.strip()


def parse_output_types(value: Any) -> tuple[str, ...]:
    values = ["URL"] if value is None else value if isinstance(value, list) else [value]
    if not values or any(v not in OUTPUT_TYPES for v in values):
        raise InvalidParameter(
            f"invalid value for outputType: {value!r}",
            parameter="outputType",
            code="invalidOutputType",
            allowed_values=OUTPUT_TYPES,
        )
    return tuple(dict.fromkeys(values))


def parse_output_format(value: str | None) -> str:
    if value is None:
        return "TIFF"  # Runware's format for layered models; see docs/server.md
    name = _FORMAT_ALIASES.get(value.upper(), value.upper())
    if name not in OUTPUT_FORMATS:
        raise InvalidParameter(
            f"invalid value for outputFormat: {value!r}",
            parameter="outputFormat",
            code="invalidOutputFormat",
            allowed_values=OUTPUT_FORMATS,
        )
    return name


def reject_foreign(wire: InferenceWire) -> None:
    extra = wire.model_extra or {}
    advanced = wire.advancedFeatures.model_extra or {} if wire.advancedFeatures else {}
    found = [name for name in FOREIGN_FEATURES if extra.get(name) not in (None, [], {}, False)]
    found += [f"advancedFeatures.{n}" for n in _FOREIGN_ADVANCED if advanced.get(n) not in (None, {}, False)]
    if found:
        raise UnsupportedParameter(
            f"{found[0]} is not supported by {wire.model}", parameter=found[0], code="unsupportedParameter"
        )


def engine_options(wire: InferenceWire, engine: Engine) -> dict[str, Any]:
    """Map wire parameters onto the engine's option names; refuse those the engine lacks."""
    supported = engine.capabilities.options
    given = wire_values(wire)
    options: dict[str, Any] = {}
    for parameter, option in OPTIONAL_OPTIONS.items():
        if given.get(parameter) is not None and option in supported:
            options[option] = given[parameter]
    for parameter, option in ENGINE_OPTIONS.items():
        if given.get(parameter) is None:
            continue
        if option not in supported:
            raise UnsupportedParameter(
                f"{parameter} is not supported by {wire.model}",
                parameter=parameter,
                allowed_values=sorted(k for k, v in ENGINE_OPTIONS.items() if v in supported) or None,
            )
        options[option] = given[parameter]
    guidance = options.get("true_cfg_scale", options.get("cfg_scale"))
    if guidance is not None and guidance <= 1:
        options.pop("negative_prompt", None)  # guidance off: the negative prompt has no effect
    return options


def wire_values(wire: InferenceWire) -> dict[str, Any]:
    """Every engine-relevant parameter by its dotted wire name (None when absent)."""
    accel = wire.acceleratorOptions
    return {
        "positivePrompt": wire.positivePrompt,
        "negativePrompt": wire.negativePrompt,
        "steps": wire.steps,
        "scheduler": wire.scheduler,
        "CFGScale": wire.CFGScale,
        "settings.trueCFGScale": wire.settings.trueCFGScale if wire.settings else None,
        "lora": [lora.model_dump() for lora in wire.lora] if wire.lora else None,
        "acceleratorOptions": accelerator_options(accel) if accel else None,
        "advancedFeatures.ultralytics": wire.advancedFeatures.ultralytics if wire.advancedFeatures else None,
        "ultralytics": wire.ultralytics,
    }


def accelerator_options(accel: AcceleratorWire) -> dict[str, Any] | None:
    """Canonical names only (SDK aliases folded in), without unset values; None when nothing is set."""
    declared = (name for name in AcceleratorWire.model_fields if name != "deepCache")
    values = {name: getattr(accel, name) for name in declared if getattr(accel, name) is not None}
    for alias, name in _ACCELERATOR_ALIASES.items():
        if alias in values:
            values.setdefault(name, values.pop(alias))
    if accel.deepCache:
        raise UnsupportedParameter(
            "acceleratorOptions.deepCache applies to UNet models only",
            parameter="acceleratorOptions.deepCache",
        )
    if not any(values.get(k) for k in ("fbCache", "teaCache", "dbCache")):
        return None  # no cache switched on: nothing for the engine to do
    return {snake_case(name): value for name, value in values.items()}


def snake_case(name: str) -> str:
    """``fbCacheThreshold`` → ``fb_cache_threshold`` (the engines' option spelling)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def invalid_task_type(task: Any) -> StrataError:
    task_type = task.get("taskType") if isinstance(task, dict) else None
    return InvalidParameter(
        f"unsupported taskType {task_type!r}",
        parameter="taskType",
        code="invalidTaskType",
        allowed_values=["authentication", "ping", "imageInference", "imageUpload", "getResponse"],
    )
