"""``alibaba:qwen-image@layered`` end to end: the official SDK, the real server, the real qwen engine.

The weights are a tiny random checkpoint written by ``strata qwen make-tiny`` (the same command users
run for a smoke test), loaded through the same path a real checkpoint takes. Random weights say
nothing about quality; this checks that every API parameter reaches the engine and the layered TIFF
comes back.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tifffile
from PIL import Image
from runware import IAcceleratorOptions, IImageInference, IInputs, ILora, ISettings, Runware, RunwareAPIError

import strata_server
from shared_data import POSTERS

POSTER = sorted(POSTERS.glob("*.png"))[0]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[strata_server.RunningServer]:
    root = tmp_path_factory.mktemp("qwen")
    command = [sys.executable, "-m", "strata", "qwen", "make-tiny", str(root / "tiny")]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    env = {"STRATA_QWEN_MODEL_PATH": str(root / "tiny")}
    with strata_server.running(root / "data", env) as running:
        yield running


def infer(server: strata_server.RunningServer, reference: Path, **fields: Any) -> Any:
    async def main() -> Any:
        client = Runware(api_key=strata_server.API_KEY, url=server.ws)
        await client.connect()
        try:
            request = IImageInference(
                model="alibaba:qwen-image@layered",
                positivePrompt="a poster",
                inputs=IInputs(referenceImages=[str(reference)]),
                **fields,
            )
            return await client.imageInference(requestImage=request)
        finally:
            await client.disconnect()

    return asyncio.run(main())


def test_qwen_layers_come_back_as_a_tiff(server: strata_server.RunningServer, tmp_path: Path) -> None:
    reference = tmp_path / "poster.png"
    Image.open(POSTER).convert("RGB").resize((96, 64)).save(reference)
    images = infer(
        server,
        reference,
        settings=ISettings(layers=2, trueCFGScale=2.0),
        steps=2,
        seed=11,
        numberResults=2,
        includeCost=True,
        negativePrompt="blurry",
        acceleratorOptions=IAcceleratorOptions(teaCache=True, teaCacheDistance=0.3),
    )
    assert [image.seed for image in images] == [11, 12]
    assert all(image.cost > 0 for image in images)
    pages = tifffile.imread(io.BytesIO(httpx.get(images[0].imageURL, timeout=10).content))
    assert pages.shape == (2, 64, 96, 4)


def test_qwen_refuses_what_it_does_not_support(server: strata_server.RunningServer, tmp_path: Path) -> None:
    reference = tmp_path / "poster.png"
    Image.open(POSTER).convert("RGB").resize((64, 64)).save(reference)
    with pytest.raises(RunwareAPIError) as caught:
        infer(
            server, reference, steps=2, extraArgs={"advancedFeatures": {"ultralytics": {"inpaintSize": 512}}}
        )
    assert caught.value.code == "unsupportedParameter"


def test_a_lora_the_server_cannot_find_is_refused_with_the_setting_named(
    server: strata_server.RunningServer, tmp_path: Path
) -> None:
    """Checked by the engine when the task is parsed (no queue, no reference fetch); the server goes on."""
    reference = tmp_path / "poster.png"
    Image.open(POSTER).convert("RGB").resize((64, 64)).save(reference)
    with pytest.raises(RunwareAPIError) as caught:
        infer(server, reference, steps=2, lora=[ILora(model="test:style@1", weight=0.8)])
    assert caught.value.code == "invalidParameter" and "STRATA_LORA_DIR" in str(caught.value)
    assert len(infer(server, reference, steps=2, settings=ISettings(layers=2))) == 1
