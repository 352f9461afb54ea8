"""The chain with the real packaged SmolLM2: grounded answers that cite numbered passages."""

from __future__ import annotations

from rag_app.chain import NO_ANSWER, build_messages, citations
from rag_app.index import Hit
from rag_app.service import RagService

QUESTION = "After how long without traffic does a free Space fall asleep?"


def test_prompt_numbers_the_passages_and_states_the_rules() -> None:
    hits = [
        Hit("a.md", None, "x-0", "Alpha text.", 0.9),
        Hit("b.pdf", 2, "y-0", "Beta text.", 0.8),
    ]
    messages = build_messages("What is beta?", hits)
    assert messages[0]["role"] == "system"
    assert "only the numbered passages" in messages[0]["content"]
    assert NO_ANSWER in messages[0]["content"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    last = messages[-1]["content"]
    assert "[1] (a.md) Alpha text." in last
    assert "[2] (b.pdf, page 2) Beta text." in last
    assert last.endswith("Question: What is beta?")


def test_citations_keep_existing_passages_once_in_order() -> None:
    assert citations("See [2], then [1] and [2] again; [7] does not exist.", 3) == [2, 1]
    assert citations("No citation here.", 3) == []


def test_answer_cites_a_passage_of_the_right_document(service: RagService) -> None:
    assert service.chain is not None
    answer = service.chain.ask(QUESTION)
    assert answer.sources
    assert answer.sources[0].source == "spaces-hardware-and-lifecycle.txt"
    assert answer.cited, f"no [n] citation in {answer.answer!r}"
    assert f"[{answer.cited[0]}]" in answer.answer
    assert answer.sources[answer.cited[0] - 1].source == "spaces-hardware-and-lifecycle.txt"
    assert "48 hours" in answer.answer
    timings = answer.timings
    assert timings["retrieval_ms"] > 0
    assert timings["generation_ms"] > 0
    assert timings["tokens"] > 3


def test_an_unrelated_question_gets_i_dont_know_without_the_llm(service: RagService) -> None:
    assert service.chain is not None
    answer = service.chain.ask("What is the capital of France?")
    assert answer.answer == NO_ANSWER
    assert answer.sources == []
    assert answer.timings["tokens"] == 0
