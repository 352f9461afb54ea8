"""Quoted evidence: sentence spans, and quotes that are verbatim spans of their passage."""

from __future__ import annotations

import json

from conftest import REPO

from rag_app.chain import RagChain
from rag_app.evidence import select_evidence
from rag_app.sentences import quotable, sentence_spans
from rag_app.service import RagService

QUESTIONS = REPO / "bench" / "rag_questions.jsonl"
MARKDOWN = """## Health checks

Docker runs the probe every `--interval`; an exit code of 0 means healthy. The
defaults are a 30 s interval, e.g. for slim images, and 3 retries.

- `EXPOSE` documents the port.
- Publishing is `docker run -p`.

```dockerfile
HEALTHCHECK CMD python -c "print(1)"
```
Is it 3.5 seconds? Yes! It is"""


def test_sentences_respect_markdown_blocks_wrapping_and_abbreviations() -> None:
    spans = sentence_spans(MARKDOWN)
    texts = [MARKDOWN[s:e] for s, e in spans]
    assert texts[0] == "## Health checks"
    assert texts[1] == "Docker runs the probe every `--interval`; an exit code of 0 means healthy."
    assert texts[2].startswith("The\ndefaults are a 30 s interval, e.g. for slim")  # no cut at e.g.
    assert texts[2].endswith("3 retries.")
    assert "- `EXPOSE` documents the port." in texts
    assert "- Publishing is `docker run -p`." in texts
    assert "Is it 3.5 seconds?" in texts  # a decimal point ends nothing
    assert texts[-1] == "It is"
    assert 'HEALTHCHECK CMD python -c "print(1)"' in texts  # a code line is a unit of its own
    kept = [MARKDOWN[s:e] for (s, e), ok in quotable(MARKDOWN) if ok]
    assert "## Health checks" not in kept  # a heading is not evidence
    assert "```dockerfile" not in kept
    assert 'HEALTHCHECK CMD python -c "print(1)"' in kept
    assert "- Publishing is `docker run -p`." in kept
    cut = "wrapped at the chunk's start. The next sentence is whole."
    assert [cut[s:e] for (s, e), ok in quotable(cut) if ok] == ["The next sentence is whole."]


def test_every_quote_is_a_verbatim_span_of_at_most_two_sentences(service: RagService) -> None:
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    assert service.chain is not None
    assert service.index is not None
    chain: RagChain = service.chain
    quoted = 0
    for row in rows:
        found = chain.retriever.search(row["question"], 3)
        evidence = select_evidence(service.index, found, rank_penalty=0.1)
        assert len(evidence) == len({e.passage for e in evidence}) <= 3
        for quote in evidence:
            passage = found.hits[quote.passage - 1]
            assert quote.chunk_id == passage.chunk_id
            assert quote.text == passage.text[quote.start : quote.end]
            assert quote.text.strip() == quote.text
            assert quote.text
            inside = [s for s, e in sentence_spans(passage.text) if quote.start <= s < quote.end]
            assert 1 <= len(inside) <= 2  # one sentence, or two neighbours
        assert [e.score for e in evidence] == sorted((e.score for e in evidence), reverse=True)
        quoted += row["key_phrase"].lower() in evidence[0].text.lower()
    assert quoted / len(rows) >= 0.6  # measured 0.722 with top_k 1 (bench/results/rag_eval.md)


def test_the_best_quote_states_the_fact(service: RagService) -> None:
    assert service.chain is not None
    question = "How big is the thread pool that runs plain def endpoints in FastAPI?"
    found, _ = service.chain.retrieve(question, 1)
    best = select_evidence(service.chain.index, found, rank_penalty=0.1)[0]
    assert best.source == "fastapi-serving.md"
    assert "40 threads" in best.text
