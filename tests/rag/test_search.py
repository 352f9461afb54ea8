"""Retrieval over the starter collection: ordering, scores, and the question set's hit@5."""

from __future__ import annotations

import json

from conftest import REPO

from rag_app.service import RagService

QUESTIONS = REPO / "bench" / "rag_questions.jsonl"


def test_results_are_ranked_cosine_scores_with_metadata(service: RagService) -> None:
    hits = service.search("Which port does a Docker Space listen on?", 5)
    assert len(hits) == 5
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(-1 <= s <= 1 for s in scores)
    assert all(h.chunk_id and h.text and h.source.endswith((".md", ".txt", ".pdf")) for h in hits)
    assert len({h.chunk_id for h in hits}) == 5


def test_pdf_chunks_carry_their_page(service: RagService) -> None:
    assert service.index is not None
    pdfs = [d for d in service.index.manifest.documents if d.source.endswith(".pdf")]
    assert pdfs, "the starter collection should hold at least one PDF"
    pages = {
        d.metadata["page"]
        for d in service.index.store.docstore._dict.values()
        if d.metadata["source"] == pdfs[0].source
    }
    assert pages
    assert min(pages) == 1


def test_the_question_set_finds_its_document_in_the_top_five(service: RagService) -> None:
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    assert len(rows) >= 40
    found = [any(h.source == r["source"] for h in service.search(r["question"], 5)) for r in rows]
    assert sum(found) / len(rows) >= 0.9
