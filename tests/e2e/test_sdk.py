"""The official Runware Python SDK (runware==0.5.24), unmodified, against a real ``strata serve``.

Only the constructor's ``url`` changes, as protocol doc §11 describes. Results are checked with
independent readers: tifffile for the layered TIFF, Pillow for PNGs, and a straight-alpha "over"
written here in numpy.
"""

from __future__ import annotations

import asyncio
import base64
import io
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest
import tifffile
from PIL import Image
from runware import IImageInference, IInputs, ISettings, Runware, RunwareAPIError
from runware.types import IAsyncTaskResponse

import strata_server
from shared_data import POSTERS

POSTER = sorted(POSTERS.glob("*.png"))[0]
T = TypeVar("T")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[strata_server.RunningServer]:
    with strata_server.running(tmp_path_factory.mktemp("sdk") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("images") / "poster.png"
    Image.open(POSTER).convert("RGB").resize((160, 208)).save(path)
    return path


def with_client(server: strata_server.RunningServer, use: Callable[[Runware], Awaitable[T]]) -> T:
    async def main() -> T:
        client = Runware(api_key=strata_server.API_KEY, url=server.ws)
        await client.connect()
        try:
            return await use(client)
        finally:
            await client.disconnect()

    return asyncio.run(main())


def request(reference: Path | str, **fields: Any) -> IImageInference:
    fields.setdefault("settings", ISettings(layers=3))
    fields.setdefault("model", "strata:classic@1")
    return IImageInference(
        positivePrompt="a poster", inputs=IInputs(referenceImages=[str(reference)]), **fields
    )


def over(pages: list[np.ndarray]) -> np.ndarray:
    """Straight-alpha over of RGBA uint8 pages, back to front, as float RGB in 0..255 (on transparent)."""
    rgb = np.zeros((*pages[0].shape[:2], 3))
    alpha = np.zeros((*pages[0].shape[:2], 1))
    for page in pages:
        a = page[..., 3:4] / 255.0
        out_alpha = a + alpha * (1 - a)
        rgb = np.where(
            out_alpha > 0, (page[..., :3] * a + rgb * alpha * (1 - a)) / np.maximum(out_alpha, 1e-9), 0
        )
        alpha = out_alpha
    return rgb


def rgb_of(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


def test_sync_tiff_is_one_page_per_layer_and_composes_to_the_input(
    server: strata_server.RunningServer, reference: Path
) -> None:
    images = with_client(
        server, lambda c: c.imageInference(requestImage=request(reference, includeCost=True))
    )
    (image,) = images
    assert (
        image.imageUUID
        and image.imageURL.endswith(".tiff")
        and image.cost is not None
        and image.seed is not None
    )
    pages = tifffile.imread(io.BytesIO(httpx.get(image.imageURL, timeout=10).content))
    assert pages.shape == (3, 208, 160, 4)
    assert np.abs(over(list(pages)) - rgb_of(reference)).max() <= 1.0


def test_number_results_gives_separate_generations(
    server: strata_server.RunningServer, reference: Path
) -> None:
    images = with_client(
        server, lambda c: c.imageInference(requestImage=request(reference, numberResults=3, seed=7))
    )
    assert len({image.imageUUID for image in images}) == 3
    assert sorted(image.seed for image in images) == [7, 8, 9]


@pytest.mark.parametrize("output_type", ["URL", "base64Data", "dataURI"])
def test_each_output_type(server: strata_server.RunningServer, reference: Path, output_type: str) -> None:
    (image,) = with_client(
        server, lambda c: c.imageInference(requestImage=request(reference, outputType=output_type))
    )
    if output_type == "URL":
        data = httpx.get(image.imageURL, timeout=10).content
    elif output_type == "base64Data":
        data = base64.b64decode(image.imageBase64Data)
    else:
        header, payload = image.imageDataURI.split(",", 1)
        assert header == "data:image/tiff;base64"
        data = base64.b64decode(payload)
    assert tifffile.imread(io.BytesIO(data)).shape == (3, 208, 160, 4)


def test_png_output_is_the_composite(
    server: strata_server.RunningServer, reference: Path, tmp_path: Path
) -> None:
    (image,) = with_client(
        server, lambda c: c.imageInference(requestImage=request(reference, outputFormat="PNG"))
    )
    composite = tmp_path / "composite.png"
    composite.write_bytes(httpx.get(image.imageURL, timeout=10).content)
    assert np.abs(rgb_of(composite) - rgb_of(reference)).max() <= 1.0


def test_async_then_get_response(server: strata_server.RunningServer, reference: Path) -> None:
    async def use(client: Runware) -> Any:
        ack = await client.imageInference(
            requestImage=request(reference, deliveryMethod="async", numberResults=2)
        )
        assert isinstance(ack, IAsyncTaskResponse)
        return await client.getResponse(taskUUID=ack.taskUUID, numberResults=2)

    images = with_client(server, use)
    assert len(images) == 2 and all(image.imageUUID and image.imageURL for image in images)


def test_upload_then_reference_by_uuid(server: strata_server.RunningServer, reference: Path) -> None:
    async def use(client: Runware) -> Any:
        uploaded = await client.uploadImage(str(reference))
        assert uploaded is not None and uploaded.imageUUID and uploaded.imageURL
        return await client.imageInference(
            requestImage=request(uploaded.imageUUID, outputFormat="PNG", outputType="base64Data")
        )

    (image,) = with_client(server, use)
    composite = Image.open(io.BytesIO(base64.b64decode(image.imageBase64Data))).convert("RGB")
    assert np.abs(np.asarray(composite, np.float64) - rgb_of(reference)).max() <= 1.0


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"model": "alibaba:qwen-image@layered"}, "modelUnavailable"),
        ({"settings": ISettings(layers=30)}, "invalidLayers"),
        ({"steps": 20}, "unsupportedParameter"),
        ({"outputFormat": "GIF"}, "invalidOutputFormat"),
    ],
)
def test_errors_raise_runware_api_error(
    server: strata_server.RunningServer, reference: Path, fields: dict[str, Any], code: str
) -> None:
    with pytest.raises(RunwareAPIError) as caught:
        with_client(server, lambda c: c.imageInference(requestImage=request(reference, **fields)))
    assert caught.value.code == code


def test_hostile_inputs_raise_and_the_server_keeps_serving(
    server: strata_server.RunningServer, reference: Path, tmp_path: Path
) -> None:
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(reference.read_bytes()[:300])
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not a picture")
    for bad in (truncated, not_image, "./does-not-exist.png"):
        with pytest.raises(RunwareAPIError) as caught:
            with_client(server, lambda c, bad=bad: c.imageInference(requestImage=request(bad)))
        assert caught.value.code == "invalidImage"
    assert server.alive()
    (image,) = with_client(server, lambda c: c.imageInference(requestImage=request(reference)))
    assert image.imageUUID


def test_a_cancelled_task_raises_task_cancelled(server: strata_server.RunningServer, tmp_path: Path) -> None:
    large = tmp_path / "large.png"
    Image.open(POSTER).convert("RGB").resize((512, 512)).save(large)
    task_uuid = str(uuid.uuid4())
    auth = {"Authorization": f"Bearer {strata_server.API_KEY}"}

    async def cancel_once_running() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=server.http, headers=auth, timeout=30) as http:
            poll = [{"taskType": "getResponse", "taskUUID": task_uuid}]
            for _ in range(300):  # until the SDK's task is running (progress above 0)
                items = (await http.post("/v1", json=poll)).json().get("data", [])
                if items and items[0].get("progress", 0) > 0:
                    break
                await asyncio.sleep(0.02)
            answer: dict[str, Any] = (
                await http.post("/v1", json=[{"taskType": "taskCancel", "taskUUID": task_uuid}])
            ).json()
            return answer

    async def use(client: Runware) -> Any:
        inference = client.imageInference(
            requestImage=request(large, taskUUID=task_uuid, numberResults=20, settings=ISettings(layers=4))
        )
        return await asyncio.gather(inference, cancel_once_running(), return_exceptions=True)

    raised, answer = with_client(server, use)
    assert isinstance(raised, RunwareAPIError) and raised.code == "taskCancelled"
    assert answer["data"][0]["status"] == "cancelled"
