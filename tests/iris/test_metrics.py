"""The model figures on /metrics move with real requests: predictions per species, rows per model
call, and the micro-batcher's queue depth, in the app's own registry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from iris.conftest import UNLIMITED
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from iris_app.api import create_app
from iris_app.schemas import SETOSA, VIRGINICA
from iris_app.settings import Settings

VERSICOLOR = {"sepal_length": 5.9, "sepal_width": 2.8, "petal_length": 4.3, "petal_width": 1.3}


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, labels)."""
    text = client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A fresh app (its own registry: every figure starts at zero)."""
    with TestClient(create_app(Settings(**UNLIMITED))) as test_client:
        yield test_client


def test_predictions_per_species_and_rows_per_model_call(client: TestClient) -> None:
    before = samples(client)
    assert before[("iris_queue_depth", ())] == 0
    assert ("iris_predictions_total", (("species", "setosa"),)) not in before
    for flower in (SETOSA, SETOSA, VIRGINICA):
        assert client.post("/predict", json=flower).status_code == 200
    batch = {"items": [SETOSA, VERSICOLOR, VIRGINICA, VIRGINICA]}
    assert client.post("/predict/batch", json=batch).status_code == 200
    after = samples(client)
    species = {
        dict(labels)["species"]: value
        for (name, labels), value in after.items()
        if name == "iris_predictions_total"
    }
    assert species == {"setosa": 3, "versicolor": 1, "virginica": 3}
    # One model call per lone /predict (nobody to share with), one for the batch of four.
    assert after[("iris_batch_size_count", ())] == 4
    assert after[("iris_batch_size_sum", ())] == 7
    assert after[("iris_batch_size_bucket", (("le", "1.0"),))] == 3
    assert after[("iris_batch_size_bucket", (("le", "4.0"),))] == 4
    assert after[("iris_queue_depth", ())] == 0


def test_the_queue_depth_is_the_micro_batchers(client: TestClient) -> None:
    """Rows queued on the app's loop count in the gauge /metrics serves until the worker runs."""
    app = client.app
    batcher = app.state.batcher  # type: ignore[attr-defined]
    registry = app.state.metrics.registry  # type: ignore[attr-defined]
    row = np.array([[5.1, 3.5, 1.4, 0.2]])

    async def queue_then_scrape() -> tuple[str, list[object]]:
        waiting = [asyncio.ensure_future(batcher.submit(row)) for _ in range(40)]
        # The 40 submits run first and queue their rows; the worker, woken by the first, runs
        # after this coroutine resumes (asyncio runs callbacks in order): the gauge sees 40.
        await asyncio.sleep(0)
        text = generate_latest(registry).decode()
        return text, await asyncio.gather(*waiting)

    text, answers = client.portal.call(queue_then_scrape)  # type: ignore[union-attr]
    assert "iris_queue_depth 40.0" in text
    assert len(answers) == 40
    assert samples(client)[("iris_queue_depth", ())] == 0
