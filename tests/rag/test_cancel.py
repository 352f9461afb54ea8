"""A generation whose reader is gone stops at once and frees the single LLM worker.

The question below makes the packaged SmolLM2 write about 330 tokens (several seconds) with no
stop sequences, so a generation that kept running after its reader left would hold the worker
for seconds; each test requires it to be free again well within one second.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import aclosing

import gradio as gr
import httpx
import pytest
import uvicorn
from conftest import free_port
from gradio_client import Client

from rag_app.api import create_app
from rag_app.service import RagService
from rag_app.ui import build_ui

pytestmark = pytest.mark.slow
LONG_QUESTION = "Explain every setting of a Space's README front matter in detail."
FREED_WITHIN_S = 1.0


@pytest.fixture(scope="module")
def talkative(service: RagService) -> Iterator[RagService]:
    """The session's index and model, generating up to 400 tokens with no stop sequences."""
    assert service.index is not None
    assert service.queue is not None
    settings = service.settings.model_copy(
        update={"answer_mode": "generate", "max_tokens": 400, "stop_sequences": []}
    )
    svc = RagService(settings).load(backend=service.queue.backend, index=service.index)
    yield svc
    svc.close()


def wait_until_free(svc: RagService, timeout: float) -> float:
    """Seconds until no generation runs or waits; fails after `timeout`."""
    assert svc.queue is not None
    began = time.perf_counter()
    while svc.queue.pending:
        if time.perf_counter() - began > timeout:
            pytest.fail(f"the LLM worker was still busy {timeout:.1f} s after the reader left")
        time.sleep(0.01)
    return time.perf_counter() - began


def test_a_full_generation_of_the_long_question_takes_seconds(talkative: RagService) -> None:
    """The baseline the other tests cut short."""
    assert talkative.chain is not None
    answer = talkative.chain.ask(LONG_QUESTION)
    assert answer.timings["tokens"] > 200
    assert answer.timings["generation_ms"] > 2000


def test_an_abandoned_sync_iteration_stops_the_generation(talkative: RagService) -> None:
    assert talkative.chain is not None
    prepared = talkative.chain.prepare(LONG_QUESTION)
    assert prepared.stream is not None
    prepared.stream.wait_started(30)
    for n, _ in enumerate(prepared.stream):
        if n == 3:
            break  # the for loop drops its iterator: the generation is cancelled
    wait_until_free(talkative, FREED_WITHIN_S)
    assert prepared.stream.tokens < 40


def test_a_closed_async_iteration_stops_the_generation(talkative: RagService) -> None:
    assert talkative.chain is not None
    prepared = talkative.chain.prepare(LONG_QUESTION)
    assert prepared.stream is not None

    async def read_three() -> None:
        async with aclosing(prepared.stream.__aiter__()) as tokens:
            n = 0
            async for _ in tokens:
                n += 1
                if n == 3:
                    return

    asyncio.run(read_three())
    wait_until_free(talkative, FREED_WITHIN_S)
    assert prepared.stream.tokens < 40


@pytest.fixture(scope="module")
def server(talkative: RagService) -> Iterator[str]:
    """The Space's app (API + Gradio UI) on a loopback port, served by uvicorn in a thread."""
    app = gr.mount_gradio_app(
        create_app(service=talkative), build_ui(talkative), path="/", ssr_mode=False
    )
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield url
    uv.should_exit = True
    thread.join(timeout=15)


def test_a_client_that_leaves_an_sse_stream_stops_the_generation(
    server: str, talkative: RagService
) -> None:
    tokens = 0
    with (
        httpx.Client(timeout=60) as client,
        client.stream("POST", f"{server}/ask/stream", json={"question": LONG_QUESTION}) as r,
    ):
        for line in r.iter_lines():
            tokens += line == "event: token"
            if tokens == 3:
                break  # leaving the block closes the connection
    wait_until_free(talkative, FREED_WITHIN_S)


def test_a_client_that_gives_up_on_ask_stops_the_generation(
    server: str, talkative: RagService
) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server}/ask", json={"question": LONG_QUESTION}, timeout=1.5)
    wait_until_free(talkative, FREED_WITHIN_S)


def test_a_cancelled_gradio_chat_stops_the_generation(server: str, talkative: RagService) -> None:
    client = Client(server + "/", verbose=False)
    job = client.submit(LONG_QUESTION, api_name="/chat")
    deadline = time.monotonic() + 30
    while len(job.outputs()) < 3:  # the quote first, then tokens
        assert time.monotonic() < deadline, "the chat streamed nothing"
        time.sleep(0.02)
    assert talkative.queue is not None
    assert talkative.queue.pending == 1
    job.cancel()
    wait_until_free(talkative, FREED_WITHIN_S)
