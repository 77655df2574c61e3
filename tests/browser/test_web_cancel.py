"""The web page's Cancel button stops the server's task (taskCancel), not just the page's polling.

One worker, kept busy by a long task sent over REST, so the page's decomposition waits in the queue
for as long as the test needs; Cancel must then end it on the server with ``taskCancelled``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_web import SHOTS, page, poster  # noqa: F401  (fixtures)

import strata_server
from test_api_validation import png_data_uri, task

AUTH = {"Authorization": f"Bearer {strata_server.API_KEY}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[strata_server.RunningServer]:
    env = {"STRATA_WORKERS": "1"}
    with strata_server.running(tmp_path_factory.mktemp("web-cancel") / "data", env) as running:
        yield running


def rest(server: strata_server.RunningServer, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.post(f"{server.http}/v1", json=[body], headers=AUTH, timeout=60).json()
    return answer


def test_cancel_button_cancels_the_server_task(server, page, poster) -> None:  # noqa: F811
    blocker = task(
        deliveryMethod="async", numberResults=20, **{"inputs.referenceImages": [png_data_uri((512, 512))]}
    )
    rest(server, blocker)  # the only worker is busy for seconds: the page's task will wait its turn
    try:
        page.set_input_files("#file", str(poster))
        page.wait_for_selector("#run:not([disabled])")
        page.select_option("#model", "strata:classic@1")
        page.click("#run")
        page.wait_for_function(
            "() => window.strata.session.taskUUID && "
            "document.querySelector('#progress .label').textContent.startsWith('Decomposing')"
        )
        task_uuid = page.evaluate("() => window.strata.session.taskUUID")
        page.screenshot(path=SHOTS / "07-decomposing-before-cancel.png")
        page.click("#cancel")
        page.wait_for_selector("#progress", state="hidden")
        assert "Cancelled" in page.text_content("#message .text")
        poll = {"taskType": "getResponse", "taskUUID": task_uuid}
        errors: list[dict[str, Any]] = []
        for _ in range(50):  # the cancel request may still be on its way when the page has moved on
            errors = rest(server, poll).get("errors", [])
            if errors:
                break
            page.wait_for_timeout(100)
        assert [(e["code"], e["taskUUID"]) for e in errors] == [("taskCancelled", task_uuid)]
        assert not page.evaluate("() => window.strata.session.decomposed")
    finally:
        rest(server, {"taskType": "taskCancel", "taskUUID": blocker["taskUUID"]})


def test_cancelling_an_unknown_task_is_an_error(server) -> None:
    unknown = str(uuid.uuid4())
    assert rest(server, {"taskType": "taskCancel", "taskUUID": unknown})["errors"][0]["code"] == (
        "taskFailedOrNotFound"
    )
