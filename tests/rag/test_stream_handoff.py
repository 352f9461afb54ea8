"""The hand-off of tokens from the LLM's worker thread to async readers, and their SSE bytes.

The worker wakes an async reader on its event loop (no thread-pool hop per token); tokens that
arrived while the reader was busy come out together; a reader waiting for the worker wakes as it
starts, or gives up after the queue timeout; a reader with `every` gets at most one batch per
that long, yet its first token and the end at once; a stream with nothing to say for `keepalive`
seconds says so (an empty batch, a comment line on the wire); and /ask/stream writes each event
exactly as FastAPI's own SSE encoder would.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.sse import format_sse_event
from fastapi.testclient import TestClient
from rag.conftest import OPEN_DEMO

from rag_app.api import _sse, create_app
from rag_app.chain import Prepared
from rag_app.llm import (
    _END,
    GenerationQueue,
    LlamaCppBackend,
    QueueTimeoutError,
    TokenStream,
    packaged_gguf,
)
from rag_app.service import RagService
from tests.rag.test_api import QUESTION, parse_sse
from tests.rag.test_llm import LONG, MESSAGES


@pytest.fixture(scope="module")
def queue() -> Iterator[GenerationQueue]:
    """A queue over its own llama-cpp instance of the packaged SmolLM2 (one thread)."""
    backend = LlamaCppBackend(packaged_gguf(), n_ctx=1024, n_threads=1)
    backend.load()
    q = GenerationQueue(backend, max_waiting=4, wait_timeout=60)
    yield q
    q.close()


def read_batches(stream: TokenStream, keepalive: float | None = None) -> list[list[str]]:
    async def read() -> list[list[str]]:
        return [batch async for batch in stream.batches(keepalive)]

    return asyncio.run(read())


def test_tokens_that_arrived_together_come_out_in_one_batch(queue: GenerationQueue) -> None:
    stream = queue.submit(MESSAGES, LONG)
    stream.wait_started(30)
    while queue.pending:  # the whole answer is written before anyone reads it
        time.sleep(0.01)
    batches = read_batches(stream)
    assert len(batches) == 1
    assert len(batches[0]) == stream.tokens > 10
    again = queue.submit(MESSAGES, LONG)
    assert "".join(again) == "".join(batches[0])  # the sync reader gets the same tokens


def test_an_async_reader_gets_every_token_as_the_worker_writes_it(queue: GenerationQueue) -> None:
    stream = queue.submit(MESSAGES, LONG)

    async def read() -> tuple[list[str], list[float]]:
        await stream.await_started(30)
        tokens, lags = [], []
        async for token in stream:
            tokens.append(token)
            lags.append(time.perf_counter())
        return tokens, lags

    tokens, arrivals = asyncio.run(read())
    assert len(tokens) == stream.tokens > 10
    assert stream.first_token_at is not None
    assert arrivals[0] - stream.first_token_at < 0.5  # woken at once, not at the next poll
    assert queue.pending == 0


def test_tokens_per_s_runs_from_first_to_last_token_not_to_the_step_that_ends(
    queue: GenerationQueue,
) -> None:
    """llama.cpp's last step finds the end (here an end-of-sequence token) and makes no text: a
    token's time, which tokens/s leaves out, as raw llama's own count does (bench.rag_stream)."""
    prepared = Prepared("q", [], [], set(), 0.0, 0.0, queue.submit(MESSAGES, LONG))
    assert prepared.stream is not None
    tokens = list(prepared.stream)
    while queue.pending:
        time.sleep(0.01)
    s = prepared.stream
    assert s.first_token_at is not None
    assert s.last_token_at is not None
    assert s.finished_at is not None
    assert s.finished_at - s.last_token_at > 0.005  # the end took a step of its own
    timings = prepared.timings()
    assert timings["tokens"] == len(tokens) > 2
    pace = (len(tokens) - 1) / (s.last_token_at - s.first_token_at)
    assert timings["tokens_per_s"] == pytest.approx(pace, abs=0.06)


def test_await_started_wakes_when_the_worker_starts_and_times_out_behind_a_long_one(
    queue: GenerationQueue,
) -> None:
    running = queue.submit(MESSAGES, LONG)
    asyncio.run(running.await_started(30))
    assert running.started.is_set()
    waiting = queue.submit(MESSAGES, LONG)
    began = time.perf_counter()
    with pytest.raises(QueueTimeoutError, match="busy"):
        asyncio.run(waiting.await_started(0.05))
    assert time.perf_counter() - began < 1
    assert waiting.cancelled.is_set()  # it will not run
    assert "".join(running)
    assert list(waiting) == []
    while queue.pending:
        time.sleep(0.01)


def test_a_silent_stream_yields_an_empty_batch_after_keepalive_then_its_tokens() -> None:
    stream = TokenStream()

    def write_later() -> None:  # the worker's side: tokens, then the end
        time.sleep(0.6)
        for token in ("a", "b"):
            stream.put(token)
        stream.put(_END)

    threading.Thread(target=write_later).start()
    began = time.perf_counter()
    batches = read_batches(stream, keepalive=0.25)
    assert batches[0] == []
    assert [t for batch in batches for t in batch] == ["a", "b"]
    assert 0.5 < time.perf_counter() - began < 5


def test_with_every_a_fast_stream_comes_in_few_batches_the_first_token_and_end_at_once() -> None:
    stream, tokens, every = TokenStream(), [f"t{n}" for n in range(100)], 0.3
    times: dict[str, float] = {}

    def write() -> None:  # the worker's side: a token every 10 ms, then the end
        for token in tokens:
            times.setdefault("first", time.perf_counter())
            stream.put(token)
            time.sleep(0.01)
        times["end"] = time.perf_counter()
        stream.put(_END)

    async def read() -> tuple[list[tuple[float, list[str]]], float]:
        batches = [(time.perf_counter(), batch) async for batch in stream.batches(every=every)]
        return batches, time.perf_counter()

    threading.Thread(target=write).start()
    batches, finished = asyncio.run(read())
    assert [t for _, batch in batches for t in batch] == tokens  # all of them, in order
    assert batches[0][1] == ["t0"]  # the first token is not held: the next comes 10 ms later
    assert 3 <= len(batches) <= (times["end"] - times["first"]) / every + 2  # not 100
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(batches)]
    assert min(gaps[:-1]) > every * 0.8  # at most one batch per `every`
    assert finished - times["end"] < every / 2  # nor is the end


@pytest.mark.parametrize("text", [" word", 'a "quoted"\nline', "é 😀 \\ </script>", ""])
def test_each_event_is_written_as_fastapis_encoder_writes_it(text: str) -> None:
    data = json.dumps(jsonable_encoder({"text": text}))
    assert _sse("token", json.dumps({"text": text})) == format_sse_event(
        data_str=data, event="token"
    )


@pytest.fixture(scope="module")
def client(service: RagService) -> Iterator[TestClient]:
    settings = service.settings.model_copy(update={**OPEN_DEMO, "answer_mode": "generate"})
    with TestClient(create_app(settings, service)) as test_client:
        yield test_client


def test_the_stream_carries_every_generated_token_and_its_headers(client: TestClient) -> None:
    with client.stream("POST", "/ask/stream", json={"question": QUESTION}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        events = parse_sse("".join(response.iter_text()))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "context"
    assert kinds[-1] == "answer"
    answer = events[-1][1]
    assert answer["kind"] == "generated"
    assert kinds.count("token") == answer["timings"]["tokens"]
    streamed = "".join(data["text"] for kind, data in events if kind == "token").strip()
    assert streamed in answer["answer"]
