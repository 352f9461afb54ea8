"""Retrieve, quote, generate, and compose the answer a visitor reads first.

1. Retrieval (hybrid by default) keeps the passages whose relevance reaches RAG_MIN_RELEVANCE, if
   the best-ranked one does; otherwise the answer is the fixed "I don't know" text and the LLM is
   never called.
2. Each passage's best one or two sentences become its quoted evidence.
3. The LLM answers from the passages trimmed around their quotes (unless RAG_ANSWER_MODE=extract).
4. RAG_ANSWER_MODE=auto keeps the LLM's answer only when the quotes support it: what it adds to the
   question must come from the passages. Otherwise the answer is the best quote itself, so a small
   model's wrong sentence is never shown as the answer.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from rag_app.evidence import Evidence, select_evidence
from rag_app.index import Hit, RagIndex
from rag_app.keywords import terms
from rag_app.llm import GenerationParams, GenerationQueue, TokenStream
from rag_app.prompt import CITATION, NO_ANSWER, build_messages, citations, format_context
from rag_app.retrieval import Retrieved, Retriever
from rag_app.settings import Settings

Kind = Literal["generated", "quoted", "refused"]
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
UNCITE = re.compile(r"\s*" + CITATION.pattern)  # a citation with the space before it
# Share of the answer's new terms (not in the question) that must occur in the passages shown,
# and how many of them it must share with the best quote.
SUPPORT = 0.75
SHARED = 2


@dataclass
class Prepared:
    """A question with its passages, quotes and queued generation (None: no LLM call)."""

    question: str
    sources: list[Hit]
    evidence: list[Evidence]
    question_terms: set[str]
    retrieval_ms: float
    evidence_ms: float
    stream: TokenStream | None
    began: float = field(default_factory=time.perf_counter)

    def timings(self) -> dict[str, Any]:
        """Retrieval, evidence, queue wait, time to first token and generation times, in ms."""
        out: dict[str, Any] = {
            "retrieval_ms": round(self.retrieval_ms, 1),
            "evidence_ms": round(self.evidence_ms, 1),
        }
        s = self.stream
        if s is None or s.started_at is None:
            return {**out, "queue_ms": 0.0, "generation_ms": 0.0, "tokens": 0}
        end = s.finished_at or time.perf_counter()
        first = s.first_token_at or end
        # First to last token, as llama.cpp counts tokens/s: the step that finds the end
        # (an end-of-sequence token, a stop sequence) makes no token.
        decoding = (s.last_token_at or end) - first
        return {
            **out,
            "queue_ms": round((s.started_at - s.enqueued_at) * 1000, 1),
            "first_token_ms": round((first - self.began) * 1000, 1),
            "llm_first_token_ms": round((first - s.started_at) * 1000, 1),  # prompt processing
            "generation_ms": round((end - s.started_at) * 1000, 1),
            "tokens": s.tokens,
            "tokens_per_s": round((s.tokens - 1) / decoding, 1) if s.tokens > 1 and decoding else 0,
        }


@dataclass
class Answer:
    """The result of a question: what to read, how it was made, and the proof."""

    answer: str
    kind: Kind
    sources: list[Hit]
    evidence: list[Evidence]
    cited: list[int]
    timings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def quote_answer(quote: Evidence) -> str:
    """An answer made of the quote itself, cited, on one line."""
    return f"[{quote.passage}] {' '.join(quote.text.split())}"


def supported(answer: str, prepared: Prepared) -> bool:
    """True when what the answer adds to the question comes from the passages it was shown.

    Its new terms (those not in the question) must mostly occur in the passages, its numbers
    all of them, and at least SHARED of them must be new terms of the best quote too: the answer
    says what the quote says. A refusal, a restated question or a bare phrase is not supported.
    """
    if not prepared.evidence or NO_ANSWER.split(":")[0] in answer:
        return False
    text = CITATION.sub(" ", answer)
    new = terms(text) - prepared.question_terms
    quoted = terms(prepared.evidence[0].text) - prepared.question_terms
    context = format_context(prepared.sources, prepared.evidence)
    if len(new & quoted) < min(SHARED, len(quoted)) or not new:
        return False
    numbers_ok = set(NUMBER.findall(text)) <= set(NUMBER.findall(context))
    return numbers_ok and len(new & terms(context)) / len(new) >= SUPPORT


class RagChain:
    """Retrieve, quote, prompt, generate; knows nothing of HTTP or UI."""

    def __init__(
        self, index: RagIndex, queue: GenerationQueue, settings: Settings, reranker: Any = None
    ) -> None:
        self.index, self.queue, self.settings = index, queue, settings
        self.retriever = Retriever(index, settings, reranker)

    def retrieve(self, question: str, top_k: int) -> tuple[Retrieved, float]:
        """The top_k passages that reach RAG_MIN_RELEVANCE, and the retrieval time in ms; none
        when the best-ranked one does not, so that asking for more passages never turns a
        refusal into an answer from a weaker match."""
        began = time.perf_counter()
        found = self.retriever.search(question, top_k)
        least = self.settings.min_relevance
        relevant = bool(found.hits) and found.hits[0].relevance >= least
        found.hits = [h for h in found.hits if h.relevance >= least] if relevant else []
        return found, (time.perf_counter() - began) * 1000

    def prepare(self, question: str, top_k: int | None = None) -> Prepared:
        """Retrieve, quote and queue the generation; QueueFullError when the queue is full."""
        began = time.perf_counter()
        found, retrieval_ms = self.retrieve(question, top_k or self.settings.top_k_default)
        quoted = time.perf_counter()
        evidence = []
        if found.hits:
            evidence = select_evidence(self.index, found, self.settings.evidence_rank_penalty)
        evidence_ms = (time.perf_counter() - quoted) * 1000
        stream = None
        if found.hits and self.settings.answer_mode != "extract":
            messages = build_messages(question, found.hits, evidence)
            stream = self.queue.submit(messages, GenerationParams.from_settings(self.settings))
        return Prepared(
            question,
            found.hits,
            evidence,
            found.query_terms,
            retrieval_ms,
            evidence_ms,
            stream,
            began,
        )

    def finish(self, prepared: Prepared, text: str) -> Answer:
        """The answer to show, how it was made, what it cites, and timings."""
        timings = prepared.timings()
        if not prepared.sources:
            return Answer(NO_ANSWER, "refused", [], [], [], timings)
        text, mode = text.strip(), self.settings.answer_mode
        best = prepared.evidence[0] if prepared.evidence else None
        keep = mode == "generate" or (mode == "auto" and supported(text, prepared))
        if not keep and best is not None:
            answer, kind = quote_answer(best), "quoted"
        else:
            answer, kind = text or NO_ANSWER, "generated"
            uncited = not citations(answer, len(prepared.sources)) and answer != NO_ANSWER
            if mode == "auto" and best is not None:  # kept because the best quote supports it
                answer = f"[{best.passage}] {UNCITE.sub('', answer).strip()}"
            elif best is not None and uncited:  # the passage whose quote supports it
                answer = f"[{best.passage}] {answer}"
        cited = citations(answer, len(prepared.sources))
        return Answer(answer, kind, prepared.sources, prepared.evidence, cited, timings)

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        """Answer a question synchronously (benchmarks, evaluation)."""
        prepared = self.prepare(question, top_k)
        if prepared.stream is None:
            return self.finish(prepared, "")
        prepared.stream.wait_started(self.queue.wait_timeout)
        return self.finish(prepared, "".join(prepared.stream))
