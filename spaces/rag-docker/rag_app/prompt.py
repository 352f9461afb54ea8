"""The prompt: rules, one worked example, then numbered passages and the question; citations [n].

Each passage is shown as its quoted evidence (one or two sentences): the packaged 135M model
answered with the key fact 21% of the time from the quote, 14% from the quote and its neighbouring
sentences, and 8% from the whole chunk (bench/rag_eval.py, answer mode `generate`).
"""

from __future__ import annotations

import re

from langchain_core.prompts import ChatPromptTemplate

from rag_app.evidence import Evidence
from rag_app.index import Hit
from rag_app.llm import Messages

NO_ANSWER = "I don't know: the documents do not say."
SYSTEM = (
    "You answer questions using only the numbered passages the user gives you. "
    "Start your answer with the number of the passage that holds the answer, like [1], "
    "then answer in one short sentence, in the passage's own words. "
    f'If no passage holds the answer, reply exactly: "{NO_ANSWER}"'
)
HUMAN = "Passages:\n{context}\n\nQuestion: {question}"
# One worked example (few-shot): small models copy its form, citation first.
EXAMPLE_PASSAGES = [
    "(trains.md) The night train leaves Vienna at 22:15 and reaches Venice at 07:30.",
    "(tea.md) Green tea should steep for two minutes at 80 degrees.",
]
EXAMPLE_QUESTION = "How long should green tea steep?"
ROLES = {"system": "system", "human": "user", "ai": "assistant"}
CITATION = re.compile(r"\[(\d+)\]")


def _example(passages: int) -> list[tuple[str, str]]:
    """The example exchange: one passage for one, two otherwise (citing the second)."""
    shown = EXAMPLE_PASSAGES[1:] if passages == 1 else EXAMPLE_PASSAGES
    context = "\n\n".join(f"[{n}] {p}" for n, p in enumerate(shown, 1))
    answer = f"[{len(shown)}] Green tea should steep for two minutes."
    return [("human", HUMAN.format(context=context, question=EXAMPLE_QUESTION)), ("ai", answer)]


def prompt_for(passages: int) -> ChatPromptTemplate:
    """System rules, the worked example, then the passages and the question."""
    return ChatPromptTemplate.from_messages(
        [("system", SYSTEM), *_example(passages), ("human", HUMAN)]
    )


def trimmed(hit: Hit, quote: Evidence | None) -> str:
    """What the LLM reads of a passage: its quote on one line (the whole passage if none)."""
    return " ".join((quote.text if quote else hit.text).split())


def format_context(hits: list[Hit], evidence: list[Evidence]) -> str:
    """Numbered passages, each headed by its source."""
    quotes = {e.passage: e for e in evidence}
    parts = []
    for n, hit in enumerate(hits, 1):
        where = hit.source + (f", page {hit.page}" if hit.page else "")
        parts.append(f"[{n}] ({where}) {trimmed(hit, quotes.get(n))}")
    return "\n\n".join(parts)


def build_messages(question: str, hits: list[Hit], evidence: list[Evidence]) -> Messages:
    """The chat messages sent to the LLM."""
    prompt = prompt_for(len(hits)).format_messages(
        context=format_context(hits, evidence), question=question
    )
    return [{"role": ROLES[m.type], "content": str(m.content)} for m in prompt]


def citations(answer: str, count: int) -> list[int]:
    """The passage numbers cited in an answer, in order, that exist."""
    seen: list[int] = []
    for match in CITATION.finditer(answer):
        n = int(match.group(1))
        if 1 <= n <= count and n not in seen:
            seen.append(n)
    return seen
