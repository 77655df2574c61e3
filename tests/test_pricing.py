"""The documented price model: formula per engine, defaults, file and environment overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strata.errors import StrataError
from strata.pricing import DEFAULT_QWEN_STEPS, PriceModel, task_cost

QWEN = "alibaba:qwen-image@layered"
CLASSIC = "strata:classic@1"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "STRATA_PRICING_FILE",
        "STRATA_PRICE_QWEN_PER_MEGAPIXEL_STEP",
        "STRATA_PRICE_CLASSIC_PER_MEGAPIXEL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_qwen_cost_grows_with_pixels_steps_and_layers() -> None:
    base = task_cost(QWEN, 1000, 1000, 20, 3)
    assert base == pytest.approx(0.0001 * 1.0 * 20 * 4)
    assert task_cost(QWEN, 2000, 1000, 20, 3) == pytest.approx(2 * base)
    assert task_cost(QWEN, 1000, 1000, 40, 3) == pytest.approx(2 * base)
    assert task_cost(QWEN, 1000, 1000, 20, 7) == pytest.approx(2 * base)
    assert task_cost(QWEN, 1000, 1000, None, 3) == task_cost(QWEN, 1000, 1000, DEFAULT_QWEN_STEPS, 3)


def test_classic_cost_depends_on_pixels_only() -> None:
    assert task_cost(CLASSIC, 500, 500, None, 4) == pytest.approx(0.0005 * 0.25)
    assert task_cost(CLASSIC, 500, 500, 30, 9) == task_cost(CLASSIC, 500, 500, None, 4)
    assert task_cost("classic", 500, 500, None, 4) == task_cost(CLASSIC, 500, 500, None, 4)


def test_environment_overrides_a_pricing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"qwen_per_megapixel_step": 0.001, "classic_per_megapixel": 0.01}))
    monkeypatch.setenv("STRATA_PRICING_FILE", str(prices))
    assert task_cost(CLASSIC, 1000, 1000, None, 2) == pytest.approx(0.01)
    assert task_cost(QWEN, 1000, 1000, 10, 1) == pytest.approx(0.001 * 10 * 2)
    monkeypatch.setenv("STRATA_PRICE_CLASSIC_PER_MEGAPIXEL", "0")
    assert task_cost(CLASSIC, 1000, 1000, None, 2) == 0.0
    assert PriceModel.configured(prices).qwen_per_megapixel_step == 0.001


def test_explicit_price_model_is_used_as_given() -> None:
    free = PriceModel(qwen_per_megapixel_step=0.0, classic_per_megapixel=0.0)
    assert task_cost(QWEN, 1024, 1024, 50, 4, prices=free) == 0.0


@pytest.mark.parametrize("value", ["-1", "abc", "nan", "inf"])
def test_bad_environment_rates_are_clear_errors(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("STRATA_PRICE_QWEN_PER_MEGAPIXEL_STEP", value)
    with pytest.raises(StrataError, match="STRATA_PRICE_QWEN_PER_MEGAPIXEL_STEP"):
        task_cost(QWEN, 1024, 1024, 50, 4)


@pytest.mark.parametrize("content", ['{"gpu_hour": 2}', "[1, 2]", "{not json"])
def test_bad_pricing_files_are_clear_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(StrataError, match="STRATA_PRICING_FILE") as caught:
        PriceModel.configured(path)
    assert "\n" not in caught.value.message


def test_unknown_model_has_no_price() -> None:
    with pytest.raises(StrataError) as caught:
        task_cost("runware:100@1", 512, 512, 20, 4)
    assert caught.value.code == "unknownModel"
    assert caught.value.parameter == "model"
