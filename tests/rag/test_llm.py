"""The LLM layer: GGUF resolution, the bounded queue, and the OpenAI-compatible backend."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import free_port, serve

from rag_app.chain import RagChain
from rag_app.llm import (
    GenerationParams,
    GenerationQueue,
    LlamaCppBackend,
    LLMError,
    OpenAIBackend,
    QueueFullError,
    QueueTimeoutError,
    packaged_gguf,
    resolve_gguf,
)
from rag_app.service import RagService
from rag_app.settings import Settings

MESSAGES = [{"role": "user", "content": "Count from one to twenty in words."}]
LONG = GenerationParams(max_tokens=48, stop=())


def test_gguf_resolution_order(tmp_path: Path) -> None:
    assert resolve_gguf(Settings()) == packaged_gguf()
    assert Path(packaged_gguf()).is_file()
    own = tmp_path / "model.gguf"
    own.write_bytes(b"GGUF")
    assert resolve_gguf(Settings(llm_model_path=str(own))) == str(own)
    with pytest.raises(LLMError, match="is not a file"):
        resolve_gguf(Settings(llm_model_path=str(tmp_path / "missing.gguf")))
    with pytest.raises(LLMError, match="both RAG_LLM_REPO_ID and RAG_LLM_FILENAME"):
        resolve_gguf(Settings(llm_repo_id="Qwen/Qwen2.5-0.5B-Instruct-GGUF"))


@pytest.fixture(scope="module")
def backend() -> LlamaCppBackend:
    """A second llama-cpp instance, so these queues never share the service's model."""
    llm = LlamaCppBackend(packaged_gguf(), n_ctx=1024, n_threads=1)
    llm.load()
    return llm


def test_queue_refuses_at_once_when_full(backend: LlamaCppBackend) -> None:
    queue = GenerationQueue(backend, max_waiting=1, wait_timeout=60)
    try:
        running = queue.submit(MESSAGES, LONG)
        waiting = queue.submit(MESSAGES, LONG)
        with pytest.raises(QueueFullError, match="busy"):
            queue.submit(MESSAGES, LONG)
        assert queue.pending == 2
        first, second = "".join(running), "".join(waiting)
        assert first
        assert second
        assert first == second  # greedy decoding, one request at a time: identical outputs
        assert running.tokens > 10
        assert queue.pending == 0
        "".join(queue.submit(MESSAGES, GenerationParams(max_tokens=4)))  # room again
    finally:
        queue.close()


def test_a_request_that_waits_too_long_times_out(backend: LlamaCppBackend) -> None:
    queue = GenerationQueue(backend, max_waiting=4, wait_timeout=0.05)
    try:
        running = queue.submit(MESSAGES, LONG)
        running.wait_started(5)
        waiting = queue.submit(MESSAGES, LONG)
        with pytest.raises(QueueTimeoutError, match="busy"):
            waiting.wait_started(queue.wait_timeout)
        assert "".join(running)
        assert list(waiting) == []  # cancelled before it started: nothing generated
    finally:
        queue.close()


@pytest.fixture(scope="module")
def openai_server() -> str:
    """llama-cpp-python's own OpenAI-compatible server on loopback, with the packaged GGUF."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        packaged_gguf(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        "1",
    ]
    with serve(cmd, cwd=Path.cwd(), ready_url=f"http://127.0.0.1:{port}/v1/models", timeout=90):
        yield f"http://127.0.0.1:{port}/v1"


@pytest.mark.slow
def test_openai_backend_streams_from_a_real_server(openai_server: str) -> None:
    backend = OpenAIBackend(openai_server, "sk-test", "smollm2")
    tokens = list(backend.stream(MESSAGES, GenerationParams(max_tokens=24, stop=())))
    assert len(tokens) > 5
    assert "".join(tokens).strip()


@pytest.mark.slow
def test_the_chain_answers_through_the_openai_backend(
    openai_server: str, service: RagService
) -> None:
    settings = Settings(openai_base_url=openai_server, openai_model="smollm2", n_threads=1)
    assert service.index is not None
    svc = RagService(settings).load(index=service.index)
    try:
        assert svc.llm_name.startswith("openai:smollm2@http://127.0.0.1")
        answer = RagChain(service.index, svc.queue, settings).ask(
            "After how long without traffic does a free Space fall asleep?"
        )
        assert answer.sources[0].source == "spaces-hardware-and-lifecycle.txt"
        assert answer.answer.strip()
        assert answer.timings["tokens"] > 0
    finally:
        svc.close()


def test_an_unreachable_server_is_an_llm_error() -> None:
    backend = OpenAIBackend(f"http://127.0.0.1:{free_port()}/v1", "sk-test", "x", timeout=3)
    with pytest.raises(LLMError, match="OpenAI-compatible server failed"):
        list(backend.stream(MESSAGES, GenerationParams(max_tokens=4)))
