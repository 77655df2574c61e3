"""Validation of Runware's ``imageInference`` into an :class:`InferenceSpec`, and of ``imageUpload``.

Two passes. The pydantic models of :mod:`strata.api.wire` check types and ranges of every parameter
of the model page (strict types: ``"20"`` is not a number). :func:`parse_inference` then checks what
depends on the model: the engine's layer range and options, the output format, the single reference
image. Each failure is one :class:`~strata.errors.StrataError` naming the offending ``parameter``;
:mod:`strata.api.errors` turns it into Runware's error object. Unknown keys are ignored, as the spec
asks of a lenient server; known Runware features no strata engine has (``controlNet``,
``maskImage``...) get ``unsupportedParameter``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from strata.api.errors import from_validation
from strata.api.models import resolve_model
from strata.api.wire import AcceleratorWire, InferenceWire, UploadWire
from strata.config import Settings
from strata.engines import Engine
from strata.errors import InvalidParameter, StrataError, UnsupportedParameter
from strata.net.guard import NetPolicy, UnsafeUrl
from strata.tasks.engines import EnginePool
from strata.tasks.records import InferenceSpec

OUTPUT_TYPES = ["URL", "dataURI", "base64Data"]
OUTPUT_FORMATS = ["TIFF", "PNG", "WEBP", "JPG", "PSD", "ZIP", "ORA"]
_FORMAT_ALIASES = {"JPEG": "JPG", "TIF": "TIFF"}

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
    check_delivery_url(wire.webhookURL, "webhookURL", settings)
    check_delivery_url(wire.uploadEndpoint, "uploadEndpoint", settings)
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
    layers, options = parse_layers(wire, engine), engine_options(wire, engine)
    engine.check(layers, options)  # a bad scheduler or LoRA id is refused now, not after the queue
    return InferenceSpec(
        task_uuid=wire.taskUUID,
        model=model.air,
        engine=model.engine,
        reference=parse_reference(wire),
        layers=layers,
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
        engine_options=options,
        fingerprint=fingerprint(task),
        base_url=base_url,
    )


def check_delivery_url(url: str | None, parameter: str, settings: Settings) -> None:
    """Refuse a webhook or upload URL whose host is a literal refused address, before any work.

    Host names are checked at delivery (they need DNS); a literal such as ``http://10.0.0.1/`` can be
    judged now, so the client gets ``unsafeUrl`` instead of results whose webhook silently never comes.
    """
    host = urlsplit(url).hostname if url else None
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return
    refusal = NetPolicy.from_settings(settings).refusal(str(host), str(address))
    if refusal is not None:
        raise UnsafeUrl(refusal, parameter=parameter)


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
        allowed_values=[
            "authentication",
            "ping",
            "imageInference",
            "imageUpload",
            "getResponse",
            "taskCancel",
        ],
    )
