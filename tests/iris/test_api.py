"""Every route of the Iris API with good and bad input, through FastAPI's TestClient."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from iris_app.api import create_app
from iris_app.schemas import MAX_BATCH, SETOSA, VIRGINICA

VERSICOLOR = {"sepal_length": 7.0, "sepal_width": 3.2, "petal_length": 4.7, "petal_width": 1.4}


@pytest.mark.parametrize(
    ("flower", "species"),
    [(SETOSA, "setosa"), (VERSICOLOR, "versicolor"), (VIRGINICA, "virginica")],
)
def test_predict_names_the_species(client: TestClient, flower: dict, species: str) -> None:
    response = client.post("/predict", json=flower)
    assert response.status_code == 200
    body = response.json()
    assert body["species"] == species
    assert set(body["probabilities"]) == {"setosa", "versicolor", "virginica"}
    assert sum(body["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    assert body["model_version"] == client.get("/model").json()["model_version"]


def test_integers_are_accepted_as_centimetres(client: TestClient) -> None:
    flower = {"sepal_length": 6, "sepal_width": 3, "petal_length": 5, "petal_width": 2}
    assert client.post("/predict", json=flower).status_code == 200


def test_batch_keeps_the_order(client: TestClient) -> None:
    items = [SETOSA, VIRGINICA, VERSICOLOR, SETOSA] * 25
    response = client.post("/predict/batch", json={"items": items})
    assert response.status_code == 200
    species = [p["species"] for p in response.json()["predictions"]]
    assert species == ["setosa", "virginica", "versicolor", "setosa"] * 25


def test_batch_of_the_maximum_size_is_served(client: TestClient) -> None:
    response = client.post("/predict/batch", json={"items": [SETOSA] * MAX_BATCH})
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == MAX_BATCH


def test_health_ready_and_model(client: TestClient) -> None:
    ready = client.get("/ready").json()
    info = client.get("/model").json()
    assert client.get("/health").json() == {"status": "ok"}
    assert ready == {"status": "ready", "model_version": info["model_version"]}
    assert info["classes"] == ["setosa", "versicolor", "virginica"]
    assert info["metrics"]["test_accuracy"] >= 0.9
    assert [f["unit"] for f in info["features"]] == ["cm"] * 4


def test_ready_is_503_before_the_model_is_loaded_health_200() -> None:
    app = TestClient(create_app())  # no `with`: the lifespan never ran
    response = app.get("/ready")
    assert response.status_code == 503
    assert response.json() == {
        "message": "The model is not loaded yet.",
        "detail": "The model is not loaded yet.",
    }
    assert app.get("/health").json() == {"status": "ok"}


def test_docs_and_every_schema_have_examples(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert client.get("/redoc").status_code == 200
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("IrisFeatures", "PredictionOut", "BatchIn"):
        assert schemas[name].get("examples"), name
    for field in schemas["IrisFeatures"]["properties"].values():
        assert field["examples"]
        assert field["exclusiveMinimum"] == 0
        assert field["maximum"] <= 15


def test_metrics_count_predictions(client: TestClient) -> None:
    client.post("/predict", json=SETOSA)
    metrics = client.get("/metrics").text
    assert 'handler="/predict"' in metrics


def _with(**changes: object) -> dict:
    return {**SETOSA, **changes}


BAD = {
    "missing field": ({k: v for k, v in SETOSA.items() if k != "petal_width"}, "petal_width"),
    "string": (_with(sepal_length="5.1"), "sepal_length"),
    "null": (_with(sepal_width=None), "sepal_width"),
    "bool": (_with(sepal_width=True), "sepal_width"),
    "negative": (_with(petal_length=-1.4), "petal_length"),
    "zero": (_with(petal_width=0), "petal_width"),
    "absurd": (_with(sepal_length=1e6), "sepal_length"),
    "extra field": (_with(colour="blue"), "colour"),
    "not an object": ([5.1, 3.5, 1.4, 0.2], "body"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_is_422_naming_the_field(client: TestClient, case: str) -> None:
    body, field = BAD[case]
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert field in response.json()["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_422(client: TestClient, literal: str) -> None:
    raw = json.dumps(SETOSA).replace("0.2", literal)
    response = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "petal_width" in response.json()["message"]


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/predict", content=b'{"sepal_length": 5.1,', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["message"]


@pytest.mark.parametrize(
    ("items", "words"),
    [([], "at least 1"), ([SETOSA] * (MAX_BATCH + 1), "at most 1000"), ("x", "items")],
)
def test_bad_batches_are_422(client: TestClient, items: object, words: str) -> None:
    response = client.post("/predict/batch", json={"items": items})
    assert response.status_code == 422
    assert words in response.json()["message"]


def test_one_bad_item_names_its_position(client: TestClient) -> None:
    response = client.post("/predict/batch", json={"items": [SETOSA, _with(sepal_width=-2)]})
    assert response.status_code == 422
    assert "items.1.sepal_width" in response.json()["message"]


def test_body_over_the_limit_is_413(client: TestClient) -> None:
    response = client.post("/predict/batch", json={"items": [SETOSA] * 5000})
    assert response.status_code == 413
    assert "larger than" in response.json()["message"]


def test_streamed_body_over_the_limit_is_413(client: TestClient) -> None:
    chunks = (b" " * 65536 for _ in range(8))  # no Content-Length: chunked upload
    response = client.post("/predict", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_wrong_method_and_unknown_route_are_4xx(client: TestClient) -> None:
    assert client.get("/predict").status_code == 405
    assert client.post("/nowhere", json={}).status_code == 404
