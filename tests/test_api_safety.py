"""``safety.checkContent`` runs the configured classifier and reports ``NSFWContent`` on every item."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

import strata_server
from test_api_validation import task

test_safety = pytest.importorskip("test_safety")  # its tiny ViT classifier builder needs torch
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[strata_server.RunningServer]:
    root = tmp_path_factory.mktemp("safety")
    model = test_safety.save_tiny_classifier(root / "classifier", {0: "normal", 1: "nsfw"}, bias=[0.0, 3.0])
    with strata_server.running(root / "data", {"STRATA_SAFETY_MODEL_PATH": str(model)}) as running:
        yield running


def run(
    server: strata_server.RunningServer, body: dict[str, object], replies: int
) -> list[dict[str, object]]:
    with connect(server.ws, max_size=None) as ws:
        ws.send(json.dumps([{"taskType": "authentication", "apiKey": strata_server.API_KEY}]))
        ws.recv(10)
        ws.send(json.dumps([body]))
        return [json.loads(ws.recv(60))["data"][0] for _ in range(replies)]


def test_checked_results_carry_the_verdict(server: strata_server.RunningServer) -> None:
    items = run(server, task(numberResults=2, safety={"checkContent": True}), 2)
    assert [item["NSFWContent"] for item in items] == [True, True]  # the classifier is biased to "nsfw"


def test_unchecked_results_do_not_pretend(server: strata_server.RunningServer) -> None:
    (item,) = run(server, task(), 1)
    assert "NSFWContent" not in item
    (item,) = run(server, task(safety={"checkContent": True, "mode": "none"}), 1)
    assert "NSFWContent" not in item
