"""Concurrent single predictions are grouped into one model call, each answer to its caller."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from iris_app import data
from iris_app.batching import MicroBatcher
from iris_app.model import IrisModel, Prediction
from iris_app.settings import get_settings


@pytest.fixture(scope="module")
def model() -> IrisModel:
    settings = get_settings()
    return IrisModel.load(settings.model_path, settings.metadata_path)


async def _submit_all(batcher: MicroBatcher[Prediction], rows: np.ndarray) -> list[Prediction]:
    batcher.start()
    try:
        return await asyncio.gather(*(batcher.submit(row[None, :]) for row in rows))
    finally:
        await batcher.stop()


def test_concurrent_rows_share_calls_and_keep_their_answers(model: IrisModel) -> None:
    iris = data.load()
    batcher = MicroBatcher(model.predict, max_batch=16)
    answers = asyncio.run(_submit_all(batcher, iris.x))
    assert [a.species for a in answers] == [p.species for p in model.predict(iris.x)]
    assert sum(batcher.batch_sizes) == len(iris.x)
    assert max(batcher.batch_sizes) == 16  # 150 queued at once: full batches
    assert len(batcher.batch_sizes) < len(iris.x) / 4


def test_a_lone_request_is_not_held_back(model: IrisModel) -> None:
    batcher = MicroBatcher(model.predict)
    answers = asyncio.run(_submit_all(batcher, data.load().x[:1]))
    assert answers[0].species == "setosa"
    assert batcher.batch_sizes == [1]


def test_a_model_error_reaches_every_caller_and_the_worker_survives(model: IrisModel) -> None:
    batcher = MicroBatcher(model.predict)

    async def scenario() -> tuple[BaseException | Prediction, ...]:
        batcher.start()
        try:
            bad = await asyncio.gather(batcher.submit(np.zeros((1, 3))), return_exceptions=True)
            good = await batcher.submit(data.load().x[:1])
            return (*bad, good)
        finally:
            await batcher.stop()

    bad, good = asyncio.run(scenario())
    assert isinstance(bad, ValueError)
    assert isinstance(good, Prediction)
    assert good.species == "setosa"
