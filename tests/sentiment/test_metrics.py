"""The model figures on /metrics move with real requests: predictions per label, texts per
forward pass, and the micro-batcher's queue depth, in the app's own registry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sentiment.conftest import UNLIMITED

from sentiment_app.api import create_app
from sentiment_app.settings import Settings

POSITIVE = ["A wonderful, heart-warming film.", "Superb acting.", "I loved it."]
NEGATIVE = ["Boring, ugly and badly acted.", "Awful script."]


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for s in family.samples
    }


@pytest.fixture
def client(model_dir: Path) -> Iterator[TestClient]:
    """A fresh app (its own registry: every figure starts at zero)."""
    with TestClient(create_app(Settings(model=str(model_dir), **UNLIMITED))) as test_client:
        yield test_client


def test_predictions_per_label_and_texts_per_pass(client: TestClient) -> None:
    before = samples(client)
    assert before[("sentiment_queue_depth", ())] == 0
    assert before[("sentiment_batch_size_count", ())] == 0
    for text in (POSITIVE[0], NEGATIVE[0]):
        assert client.post("/sentiment", json={"text": text}).status_code == 200
    batch = client.post("/sentiment/batch", json={"texts": POSITIVE + NEGATIVE})
    assert [r["label"] for r in batch.json()["results"]] == ["POSITIVE"] * 3 + ["NEGATIVE"] * 2
    after = samples(client)
    labels = {
        dict(labels)["label"]: value
        for (name, labels), value in after.items()
        if name == "sentiment_predictions_total"
    }
    assert labels == {"POSITIVE": 4, "NEGATIVE": 3}
    # Every text went through one forward pass: the passes' sizes add up to the texts sent.
    assert after[("sentiment_batch_size_sum", ())] == 7
    assert after[("sentiment_batch_size_count", ())] >= 3  # two lone texts, then the batch
    assert after[("sentiment_queue_depth", ())] == 0


def test_the_queue_depth_is_the_micro_batchers(client: TestClient) -> None:
    """Texts queued on the app's loop count in the gauge /metrics serves until the worker runs."""
    app = client.app
    batcher = app.state.batcher  # type: ignore[attr-defined]
    registry = app.state.metrics.registry  # type: ignore[attr-defined]

    async def queue_then_scrape() -> tuple[str, list[object]]:
        waiting = [asyncio.ensure_future(batcher.predict(POSITIVE[0])) for _ in range(40)]
        # The 40 predictions run first and queue their texts; the worker, woken by the first,
        # runs after this coroutine resumes (asyncio runs callbacks in order): the gauge sees 40.
        await asyncio.sleep(0)
        text = generate_latest(registry).decode()
        return text, await asyncio.gather(*waiting)

    text, answers = client.portal.call(queue_then_scrape)  # type: ignore[union-attr]
    assert "sentiment_queue_depth 40.0" in text
    assert len(answers) == 40
    assert samples(client)[("sentiment_queue_depth", ())] == 0
