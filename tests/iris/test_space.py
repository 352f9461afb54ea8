"""The Space as a visitor and a client meet it: `python app.py`, over HTTP and gradio_client."""

from __future__ import annotations

import json

import httpx
import pytest
from gradio_client import Client

from iris_app.schemas import SETOSA, VIRGINICA

pytestmark = pytest.mark.slow


def test_api_answers_over_http(space_url: str) -> None:
    response = httpx.post(f"{space_url}/predict", json=VIRGINICA, timeout=10)
    assert response.status_code == 200
    assert response.json()["species"] == "virginica"
    batch = httpx.post(f"{space_url}/predict/batch", json={"items": [SETOSA, VIRGINICA]})
    assert [p["species"] for p in batch.json()["predictions"]] == ["setosa", "virginica"]


def test_bad_input_over_http_is_a_readable_422(space_url: str) -> None:
    response = httpx.post(f"{space_url}/predict", json={**SETOSA, "petal_width": -1})
    assert response.status_code == 422
    assert "petal_width" in response.json()["message"]


def test_ui_is_served_at_the_root_and_docs_beside_it(space_url: str) -> None:
    root = httpx.get(space_url + "/", timeout=10)
    assert root.status_code == 200
    assert "gradio" in root.text.lower()
    assert httpx.get(f"{space_url}/docs").status_code == 200
    assert "http_requests_total" in httpx.get(f"{space_url}/metrics").text


def test_gradio_client_predicts_the_species(space_url: str) -> None:
    client = Client(space_url + "/", verbose=False)
    result = json.loads(client.predict(5.1, 3.5, 1.4, 0.2, api_name="/predict"))
    assert result == httpx.post(f"{space_url}/predict", json=SETOSA, timeout=10).json()
    virginica = json.loads(client.predict(**VIRGINICA, api_name="/predict"))
    assert virginica["species"] == "virginica"


def test_the_ui_events_are_callable_but_only_predict_is_listed(space_url: str) -> None:
    client = Client(space_url + "/", verbose=False)
    listed = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert listed == {"/predict"}  # the API page and the MCP server show the one tool
    events = {d.get("api_name") for d in client.config["dependencies"]}
    assert {"classify", "plot", "model_card"} <= events
    assert not any(str(name).startswith(("lambda", "fn")) for name in events)
    label = client.predict(5.1, 3.5, 1.4, 0.2, api_name="/classify")  # the UI's own event
    assert label["label"] == "setosa"
    confidences = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert confidences["setosa"] > 0.5
