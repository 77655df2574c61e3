"""The content checker, driven by a real (tiny) transformers ViT classifier saved to disk.

The model is built from a tiny config, its classifier head set so that the verdict is known, and
saved with its image processor; the checker then loads it through the same path a user's model takes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from strata.config import Settings
from strata.errors import StrataError
from strata.safety import ContentChecker

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def save_tiny_classifier(folder: Path, id2label: dict[int, str], bias: list[float]) -> Path:
    """A 2-layer ViT at 32 px whose logits are dominated by ``bias`` (head weights scaled down)."""
    config = transformers.ViTConfig(
        image_size=32,
        patch_size=16,
        num_channels=3,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(0)
    model = transformers.ViTForImageClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(1e-3)
        model.classifier.bias.copy_(torch.tensor(bias))
    model.save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def poster() -> Image.Image:
    pixels = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def test_nsfw_label_above_threshold_is_flagged(tmp_path: Path) -> None:
    path = save_tiny_classifier(tmp_path / "m", {0: "normal", 1: "nsfw"}, bias=[0.0, 3.0])
    checker = ContentChecker.from_settings(Settings(safety_model_path=path, safety_threshold=0.5))
    score = checker.score(poster())
    assert score == pytest.approx(1 / (1 + np.exp(-3.0)), abs=0.01)  # softmax of (0, 3)
    assert checker.check(poster()) is True
    assert ContentChecker(path, threshold=0.99).check(poster()) is False


def test_label_names_not_positions_decide(tmp_path: Path) -> None:
    # Label order swapped: index 0 is NSFW now; the same bias makes the image safe.
    path = save_tiny_classifier(tmp_path / "m", {0: "NSFW", 1: "normal"}, bias=[0.0, 3.0])
    checker = ContentChecker(path)
    assert checker.score(poster()) == pytest.approx(1 / (1 + np.exp(3.0)), abs=0.01)
    assert checker.check(poster()) is False


def test_several_nsfw_labels_are_summed(tmp_path: Path) -> None:
    labels = {0: "drawings", 1: "hentai", 2: "neutral", 3: "porn", 4: "sexy"}
    path = save_tiny_classifier(tmp_path / "m", labels, bias=[2.0, 1.0, 2.0, 1.0, 1.0])
    expected = 3 * np.e / (2 * np.e**2 + 3 * np.e)
    assert ContentChecker(path).score(poster()) == pytest.approx(expected, abs=0.01)


def test_scores_are_deterministic_across_calls_and_loads(tmp_path: Path) -> None:
    path = save_tiny_classifier(tmp_path / "m", {0: "normal", 1: "nsfw"}, bias=[0.2, 0.1])
    rgba = poster().convert("RGBA")
    first = ContentChecker(path)
    scores = {first.score(rgba) for _ in range(3)} | {ContentChecker(path).score(rgba)}
    assert len(scores) == 1


def test_unconfigured_checker_names_the_setting() -> None:
    checker = ContentChecker.from_settings(Settings(safety_model_path=None))
    assert not checker.configured
    with pytest.raises(StrataError, match="STRATA_SAFETY_MODEL_PATH") as caught:
        checker.check(poster())
    assert caught.value.code == "safetyCheckerUnavailable"


def test_unusable_models_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StrataError, match="not a folder") as caught:
        ContentChecker(tmp_path / "missing").check(poster())
    assert caught.value.code == "safetyCheckerUnavailable"
    (tmp_path / "empty").mkdir()
    with pytest.raises(StrataError, match="cannot load the content checker") as caught:
        ContentChecker(tmp_path / "empty").check(poster())
    assert caught.value.code == "safetyCheckerUnavailable"
    pets = save_tiny_classifier(tmp_path / "pets", {0: "cat", 1: "dog"}, bias=[0.0, 0.0])
    with pytest.raises(StrataError, match="has no NSFW label") as caught:
        ContentChecker(pets).check(poster())
    assert caught.value.code == "safetyCheckerUnavailable"
