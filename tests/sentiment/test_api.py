"""The HTTP API through TestClient (lifespan included): good input, bad input, never a 500."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient


def test_one_text(client: TestClient) -> None:
    good = client.post("/sentiment", json={"text": "A wonderful, heart-warming film."})
    bad = client.post("/sentiment", json={"text": "Boring, ugly and badly acted."})
    assert good.status_code == bad.status_code == 200
    assert good.json()["label"] == "POSITIVE"
    assert bad.json()["label"] == "NEGATIVE"
    assert 0.5 <= good.json()["score"] <= 1


def test_batch_keeps_order(client: TestClient) -> None:
    texts = ["I loved it.", "I hated it.", "Superb acting.", "Awful script."] * 8
    response = client.post("/sentiment/batch", json={"texts": texts})
    assert response.status_code == 200
    labels = [r["label"] for r in response.json()["results"]]
    assert labels == ["POSITIVE", "NEGATIVE", "POSITIVE", "NEGATIVE"] * 8


def test_text_longer_than_the_window_is_fine(client: TestClient) -> None:
    text = "It starts well. " + "Then nothing happens. " * 20_000 + "Dull and dreadful."
    assert len(text.encode()) < 1_000_000
    response = client.post("/sentiment", json={"text": text})
    assert response.status_code == 200
    assert response.json()["label"] == "NEGATIVE"


def _messages(response) -> str:
    """The one sentence a person reads; it names the field and says why."""
    return response.json()["message"]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/sentiment", {"text": ""}, "at least one non-whitespace character"),
        ("/sentiment", {"text": " \n\t "}, "at least one non-whitespace character"),
        ("/sentiment", {"text": 42}, "valid string"),
        ("/sentiment", {}, "Field required"),
        ("/sentiment", {"texts": ["a"]}, "Field required"),
        ("/sentiment/batch", {"texts": []}, "at least 1 item"),
        ("/sentiment/batch", {"texts": ["ok"] * 257}, "at most 256 items"),
        ("/sentiment/batch", {"texts": ["fine", "  "]}, "at least one non-whitespace character"),
        ("/sentiment/batch", {"texts": "not a list"}, "valid list"),
    ],
)
def test_bad_input_is_a_clear_422(client: TestClient, path: str, body: dict, message: str) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422
    assert message in _messages(response)


def test_invalid_json_and_lone_surrogates_are_422(client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    broken = client.post("/sentiment", content=b'{"text": ', headers=headers)
    assert broken.status_code == 422
    surrogate = client.post("/sentiment", content=b'{"text": "\\ud800"}', headers=headers)
    assert surrogate.status_code == 422
    assert "lone surrogate" in _messages(surrogate)


def test_body_over_one_megabyte_is_413(client: TestClient) -> None:
    body = json.dumps({"text": "a" * 1_000_001})
    response = client.post("/sentiment", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "larger than 1000000 bytes" in response.json()["message"]


def test_streamed_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks():
        yield b'{"text": "'
        for _ in range(20):
            yield b"b" * 100_000
        yield b'"}'

    response = client.post(
        "/sentiment", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_health_model_docs_metrics(client: TestClient, model_dir) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {
        "status": "ready",
        "model": client.get("/model").json()["model"],
        "backend": "onnx",
    }
    info = client.get("/model").json()
    assert info["model"] == str(model_dir)
    assert info["backend"] == "onnx"
    assert set(info["labels"].values()) == {"POSITIVE", "NEGATIVE"}
    assert info["metrics"]["imdb_heldout"]["accuracy"] > 0.5
    assert client.get("/docs").status_code == 200
    assert "/sentiment/batch" in client.get("/openapi.json").json()["paths"]
    client.post("/sentiment", json={"text": "fine"})
    assert "sentiment_batch_size_count" in client.get("/metrics").text
