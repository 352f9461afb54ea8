"""Retrieval + prompt + generation: answers only from numbered chunks and cites them as [n]."""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.prompts import ChatPromptTemplate

from rag_app.index import Hit, RagIndex
from rag_app.llm import GenerationParams, GenerationQueue, Messages, TokenStream
from rag_app.settings import Settings

NO_ANSWER = "I don't know: the documents do not say."
SYSTEM = (
    "You answer questions using only the numbered passages the user gives you. "
    "Start your answer with the number of the passage that holds the answer, like [1], "
    "then answer in one short sentence. "
    f'If no passage holds the answer, reply exactly: "{NO_ANSWER}"'
)
HUMAN = "Passages:\n{context}\n\nQuestion: {question}"
# One worked example (few-shot): small models copy its form, citation first.
EXAMPLE_PASSAGES = [
    "(trains.md) The night train leaves Vienna at 22:15 and reaches Venice at 07:30.",
    "(tea.md) Green tea should steep for two minutes at 80 degrees.",
]
EXAMPLE_QUESTION = "How long should green tea steep?"


def _example(top_k: int) -> list[tuple[str, str]]:
    """The example exchange: one passage when top_k is 1, two otherwise (citing the second)."""
    passages = EXAMPLE_PASSAGES[1:] if top_k == 1 else EXAMPLE_PASSAGES
    context = "\n\n".join(f"[{n}] {p}" for n, p in enumerate(passages, 1))
    answer = f"[{len(passages)}] Green tea should steep for two minutes."
    return [("human", HUMAN.format(context=context, question=EXAMPLE_QUESTION)), ("ai", answer)]


def prompt_for(top_k: int) -> ChatPromptTemplate:
    """System rules, the worked example, then the passages and the question."""
    return ChatPromptTemplate.from_messages(
        [("system", SYSTEM), *_example(top_k), ("human", HUMAN)]
    )


ROLES = {"system": "system", "human": "user", "ai": "assistant"}
CITATION = re.compile(r"\[(\d+)\]")


def format_context(hits: list[Hit]) -> str:
    """Numbered passages, each headed by its source."""
    parts = []
    for n, hit in enumerate(hits, 1):
        where = hit.source + (f", page {hit.page}" if hit.page else "")
        parts.append(f"[{n}] ({where}) {hit.text.strip()}")
    return "\n\n".join(parts)


def build_messages(question: str, hits: list[Hit]) -> Messages:
    """The chat messages sent to the LLM."""
    prompt = prompt_for(len(hits)).format_messages(context=format_context(hits), question=question)
    return [{"role": ROLES[m.type], "content": str(m.content)} for m in prompt]


def citations(answer: str, count: int) -> list[int]:
    """The passage numbers cited in an answer, in order, that exist."""
    seen: list[int] = []
    for match in CITATION.finditer(answer):
        n = int(match.group(1))
        if 1 <= n <= count and n not in seen:
            seen.append(n)
    return seen


@dataclass
class Prepared:
    """A question with its retrieved chunks and its queued generation (None: nothing relevant)."""

    question: str
    sources: list[Hit]
    retrieval_ms: float
    stream: TokenStream | None
    began: float = field(default_factory=time.perf_counter)

    def timings(self) -> dict[str, Any]:
        """Retrieval, queue wait, time to first token and generation times, in ms."""
        s = self.stream
        out: dict[str, Any] = {"retrieval_ms": round(self.retrieval_ms, 1)}
        if s is None or s.started_at is None:
            return {**out, "queue_ms": 0.0, "generation_ms": 0.0, "tokens": 0}
        end = s.finished_at or time.perf_counter()
        first = s.first_token_at or end
        return {
            **out,
            "queue_ms": round((s.started_at - s.enqueued_at) * 1000, 1),
            "first_token_ms": round((first - self.began) * 1000, 1),
            "generation_ms": round((end - s.started_at) * 1000, 1),
            "tokens": s.tokens,
        }


@dataclass
class Answer:
    """The result of a question."""

    answer: str
    sources: list[Hit]
    cited: list[int]
    timings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sources": [asdict(h) for h in self.sources]}


class RagChain:
    """Retrieve, prompt, generate; knows nothing of HTTP or UI."""

    def __init__(self, index: RagIndex, queue: GenerationQueue, settings: Settings) -> None:
        self.index, self.queue, self.settings = index, queue, settings

    def retrieve(self, question: str, top_k: int) -> tuple[list[Hit], float]:
        """The top_k chunks above MIN_SCORE and the retrieval time in ms."""
        began = time.perf_counter()
        hits = [h for h in self.index.search(question, top_k) if h.score >= self.settings.min_score]
        return hits, (time.perf_counter() - began) * 1000

    def prepare(self, question: str, top_k: int | None = None) -> Prepared:
        """Retrieve and queue the generation; QueueFullError when the queue is full."""
        began = time.perf_counter()
        hits, ms = self.retrieve(question, top_k or self.settings.top_k_default)
        stream = None
        if hits:
            params = GenerationParams.from_settings(self.settings)
            stream = self.queue.submit(build_messages(question, hits), params)
        return Prepared(question, hits, ms, stream, began)

    def finish(self, prepared: Prepared, text: str) -> Answer:
        """The answer with its sources, which passages it cites, and timings."""
        text = text.strip() or NO_ANSWER
        cited = citations(text, len(prepared.sources))
        return Answer(text, prepared.sources, cited, prepared.timings())

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        """Answer a question synchronously (benchmarks, evaluation, UI)."""
        prepared = self.prepare(question, top_k)
        if prepared.stream is None:
            return self.finish(prepared, NO_ANSWER)
        prepared.stream.wait_started(self.queue.wait_timeout)
        return self.finish(prepared, "".join(prepared.stream))
