"""The RAG Space's model figures on /metrics, in the app's own Prometheus registry.

The LLM queue tells its listeners about each finished generation; the API counts the answers by
kind. The chain and the queue know nothing of Prometheus or HTTP.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from rag_app.llm import GenerationQueue, TokenStream

FIRST_TOKEN_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)


class RagMetrics:
    """Tokens generated, time to first token, LLM queue depth, generation timeouts, answers."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry  # the app's, served at /metrics
        self.tokens = Counter("rag_tokens_generated", "Tokens the LLM generated", registry=registry)
        self.first_token = Histogram(
            "rag_time_to_first_token_seconds",
            "From queueing a generation to its first token (queue wait and prompt processing)",
            buckets=FIRST_TOKEN_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "rag_llm_queue_depth", "Generations running or waiting for the LLM", registry=registry
        )
        self.timeouts = Counter(
            "rag_generation_timeouts",
            "Generations stopped by RAG_GENERATION_TIMEOUT_S",
            registry=registry,
        )
        self.answers = Counter(
            "rag_answers",
            "Answers of /ask and /ask/stream by kind (generated, quoted, refused)",
            ["kind"],
            registry=registry,
        )
        self._queue: GenerationQueue | None = None
        self.queue_depth.set_function(lambda: self._queue.pending if self._queue else 0)

    def observe(self, stream: TokenStream) -> None:
        """Record one finished generation (called by the queue's worker)."""
        self.tokens.inc(stream.tokens)
        if stream.first_token_at is not None:
            self.first_token.observe(stream.first_token_at - stream.enqueued_at)
        if stream.timed_out:
            self.timeouts.inc()

    def watch(self, queue: GenerationQueue) -> Callable[[], None]:
        """Follow a queue's generations and depth; returns the function that stops it."""
        self._queue = queue
        queue.listeners.append(self.observe)

        def unwatch() -> None:
            if self.observe in queue.listeners:
                queue.listeners.remove(self.observe)
            self._queue = None

        return unwatch
