"""Runware's task objects as pydantic models: types and ranges of every ``imageInference`` parameter.

Types are strict (``"20"`` is not a number, ``1`` is not ``true``); unknown keys are allowed and
ignored. Model-dependent checks (layer range, engine options, formats) live in :mod:`strata.api.runware`.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Prompt = Annotated[str, StringConstraints(min_length=1, max_length=32000)]
Unit = Annotated[float, Field(ge=0, le=1)]
Percent = Annotated[float, Field(ge=0, le=100)]
Step = Annotated[int, Field(ge=0)]
MAX_SEED = 2**63 - 1
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)


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
    #: Upper bound: an int32, 68 years; a larger one would overflow the float expiry time mid-task.
    ttl: int | None = Field(None, ge=60, le=2**31 - 1)
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
