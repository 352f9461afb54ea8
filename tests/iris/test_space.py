"""The Space as a visitor and a client meet it: `python app.py`, over HTTP and gradio_client."""

from __future__ import annotations

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
    result = client.predict(5.1, 3.5, 1.4, 0.2, api_name="/predict")
    assert result["label"] == "setosa"
    confidences = {c["label"]: c["confidence"] for c in result["confidences"]}
    assert confidences["setosa"] > 0.5
    assert client.predict(6.3, 3.3, 6.0, 2.5, api_name="/predict")["label"] == "virginica"


def test_every_ui_endpoint_is_named(space_url: str) -> None:
    endpoints = Client(space_url + "/", verbose=False).view_api(
        print_info=False, return_format="dict"
    )
    names = set(endpoints["named_endpoints"])
    assert {"/predict", "/plot", "/model_card"} <= names
    assert not any(name.startswith("/lambda") or name.startswith("/fn") for name in names)
