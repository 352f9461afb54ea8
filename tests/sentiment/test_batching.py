"""Micro-batching groups concurrent requests into one forward pass (counted, not timed)."""

from __future__ import annotations

import asyncio

import pytest

from sentiment_app.batching import MicroBatcher
from sentiment_app.model import SentimentModel

TEXTS = [f"Review {i}: {'wonderful, moving' if i % 2 else 'dull, clumsy'} film." for i in range(40)]


async def _concurrently(batcher: MicroBatcher, texts: list[str]) -> list:
    async with batcher:
        return await asyncio.gather(*(batcher.predict(t) for t in texts))


def test_concurrent_requests_share_one_forward_pass(sentiment_model: SentimentModel) -> None:
    batcher = MicroBatcher(sentiment_model.predict, max_batch=32, wait_ms=50)
    results = asyncio.run(_concurrently(batcher, TEXTS[:16]))
    assert batcher.batch_sizes == {16: 1}
    assert results == sentiment_model.predict(TEXTS[:16])


def test_batches_never_exceed_the_maximum(sentiment_model: SentimentModel) -> None:
    batcher = MicroBatcher(sentiment_model.predict, max_batch=16, wait_ms=50)
    results = asyncio.run(_concurrently(batcher, TEXTS))
    assert batcher.batch_sizes == {16: 2, 8: 1}
    assert [r.label for r in results] == [r.label for r in sentiment_model.predict(TEXTS)]


def test_a_lone_request_does_not_wait_for_company(sentiment_model: SentimentModel) -> None:
    """With a 30 s wait, one request at a time still gets through: nobody is queued behind it."""
    batcher = MicroBatcher(sentiment_model.predict, max_batch=32, wait_ms=30_000)

    async def one_by_one() -> None:
        async with batcher:
            for text in TEXTS[:3]:
                await asyncio.wait_for(batcher.predict(text), timeout=20)

    asyncio.run(one_by_one())
    assert batcher.batch_sizes == {1: 3}


def test_under_load_a_batch_waits_for_company(sentiment_model: SentimentModel) -> None:
    """After a batch with company, the next one waits `wait_ms` and so gathers stragglers."""
    batcher = MicroBatcher(sentiment_model.predict, max_batch=32, wait_ms=1000)

    async def scenario() -> None:
        async with batcher:
            await asyncio.gather(*(batcher.predict(t) for t in TEXTS[:4]))

            async def late(text: str, delay: float) -> None:
                await asyncio.sleep(delay)
                await batcher.predict(text)

            await asyncio.gather(late(TEXTS[4], 0), late(TEXTS[5], 0.1), late(TEXTS[6], 0.2))

    asyncio.run(scenario())
    assert batcher.batch_sizes == {4: 1, 3: 1}


def test_a_model_error_reaches_every_caller_and_the_worker_survives() -> None:
    def predict(texts: list[str]) -> list[str]:
        if "boom" in texts:
            raise ValueError("boom")
        return [t.upper() for t in texts]

    async def scenario() -> tuple[list, str]:
        async with MicroBatcher(predict, max_batch=8, wait_ms=20) as batcher:
            failed = await asyncio.gather(
                batcher.predict("boom"), batcher.predict("x"), return_exceptions=True
            )
            return failed, await batcher.predict("after")

    failed, after = asyncio.run(scenario())
    assert all(isinstance(f, ValueError) for f in failed)
    assert after == "AFTER"


@pytest.mark.slow
def test_real_server_groups_concurrent_http_requests(api_server: str) -> None:
    import httpx

    def batches() -> tuple[float, float]:
        text = httpx.get(f"{api_server}/metrics").text
        count = total = 0.0
        for line in text.splitlines():
            if line.startswith("sentiment_batch_size_count"):
                count = float(line.split()[-1])
            elif line.startswith("sentiment_batch_size_sum"):
                total = float(line.split()[-1])
        return count, total

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=api_server, timeout=60) as client:
            answers = await asyncio.gather(
                *(client.post("/sentiment", json={"text": t}) for t in TEXTS[:32])
            )
        return [a.status_code for a in answers]

    count_before, texts_before = batches()
    assert asyncio.run(burst()) == [200] * 32
    count_after, texts_after = batches()
    assert texts_after - texts_before == 32
    assert count_after - count_before < 32, "32 concurrent requests needed 32 forward passes"
