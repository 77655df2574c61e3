"""``safety.checkContent``: an NSFW check from a local transformers image-classification model.

Any image-classification model saved with ``save_pretrained`` (model + image processor) works, for
example an NSFW detector fine-tuned from ViT. strata never downloads one: point
``STRATA_SAFETY_MODEL_PATH`` at the local folder. The checker is loaded on first use; torch and
transformers are imported only then, so a server that never checks content never loads them.

How a verdict is reached: the model's probabilities (its own softmax or sigmoid) are summed over
every label whose name, lower-cased, is one of :data:`NSFW_LABELS` (``nsfw``, ``porn``, ``hentai``,
``sexy``, ...). The image is NSFW when that sum reaches the threshold (``STRATA_SAFETY_THRESHOLD``,
default 0.5). A model with none of those labels is refused at load time: it could only ever answer
"safe", and a silent ``false`` is worse than an error.
"""

from __future__ import annotations

import threading
import typing
from pathlib import Path

from PIL import Image

from strata.errors import StrataError

#: Label names (case-insensitive) counted as NSFW; covers the common open NSFW detectors'
#: label sets ("normal"/"nsfw" and "drawings"/"hentai"/"neutral"/"porn"/"sexy").
NSFW_LABELS = frozenset({"nsfw", "porn", "hentai", "sexy", "explicit", "nude", "nudity", "sexual", "unsafe"})
DEFAULT_THRESHOLD = 0.5
_SETTING = "STRATA_SAFETY_MODEL_PATH"


class SafetyCheckerUnavailable(StrataError):
    """Content checking was requested but no usable checker model is configured."""

    code = "safetyCheckerUnavailable"


class ContentChecker:
    """Classify images as NSFW or not with a local image-classification model.

    ``check`` and ``score`` block (model inference): call them from a worker thread, not the event
    loop. They are safe to call from several threads.

    >>> checker = ContentChecker("/models/nsfw-vit")  # doctest: +SKIP
    >>> checker.check(Image.open("poster.png"))  # doctest: +SKIP
    False
    """

    def __init__(self, model_path: str | Path | None, *, threshold: float = DEFAULT_THRESHOLD) -> None:
        if not 0 < threshold <= 1:
            raise StrataError(
                f"the safety threshold must be in (0, 1], not {threshold}", code="invalidSetting"
            )
        self.model_path = Path(model_path) if model_path else None
        self.threshold = threshold
        self._pipeline: typing.Any = None
        self._nsfw_labels: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: typing.Any) -> ContentChecker:
        """Build from ``safety_model_path`` and ``safety_threshold`` of the settings; loads nothing yet."""
        return cls(settings.safety_model_path, threshold=settings.safety_threshold)

    @property
    def configured(self) -> bool:
        return self.model_path is not None

    def check(self, image: Image.Image) -> bool:
        """True when ``image`` is NSFW: the summed NSFW-label probability reaches the threshold."""
        return self.score(image) >= self.threshold

    def score(self, image: Image.Image) -> float:
        """The model's probability, in [0, 1], that ``image`` is NSFW."""
        self.load()
        with self._lock:  # transformers pipelines are not documented as thread-safe
            predictions = self._pipeline(_flatten(image), top_k=len(self._labels()))
        total = sum(p["score"] for p in predictions if str(p["label"]).lower() in self._nsfw_labels)
        return min(float(total), 1.0)

    def load(self) -> None:
        """Load the model now (the first ``check`` does it otherwise); clear error if it cannot."""
        with self._lock:
            if self._pipeline is None:
                self._pipeline = self._build_pipeline()
                names = {str(label).lower() for label in self._labels()}
                self._nsfw_labels = frozenset(names & NSFW_LABELS)
                if not self._nsfw_labels:
                    self._pipeline = None
                    expected = ", ".join(sorted(NSFW_LABELS))
                    raise SafetyCheckerUnavailable(
                        f"the model at {_SETTING}={self.model_path} has no NSFW label "
                        f"(labels: {', '.join(sorted(names))}; expected one of {expected})"
                    )

    def _labels(self) -> list[str]:
        return list(self._pipeline.model.config.id2label.values())

    def _build_pipeline(self) -> typing.Any:
        if self.model_path is None:
            raise SafetyCheckerUnavailable(
                f"safety.checkContent needs a content checker: set {_SETTING} to a local "
                "transformers image-classification model folder"
            )
        if not self.model_path.is_dir():
            raise SafetyCheckerUnavailable(f"{_SETTING}={self.model_path} is not a folder")
        try:
            from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline
        except ImportError:
            raise SafetyCheckerUnavailable(
                "content checking needs torch and transformers: pip install 'strata[gpu]'"
            ) from None
        try:
            # Loaded explicitly with local_files_only, so a bad path can never turn into a Hub download.
            model = AutoModelForImageClassification.from_pretrained(self.model_path, local_files_only=True)
            processor = AutoImageProcessor.from_pretrained(self.model_path, local_files_only=True)
            return pipeline(
                "image-classification", model=model.eval(), image_processor=processor, device="cpu"
            )
        except (OSError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SafetyCheckerUnavailable(
                f"cannot load the content checker from {_SETTING}={self.model_path}: {first[:200]}"
            ) from None


def _flatten(image: Image.Image) -> Image.Image:
    """RGB for the classifier; transparent areas become white rather than their hidden colours."""
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")
