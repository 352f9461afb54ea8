"""Quoted evidence: the one or two neighbouring sentences of each passage that best answer it.

A candidate quote is a sentence, or two neighbouring sentences, of a passage (headings and
fragments cut at the passage's edge are skipped). Its score is its cosine similarity to the
question (the same embedding model as retrieval) plus the share of the question's term weight it
holds (BM25's IDF), minus EVIDENCE_RANK_PENALTY per rank of its passage. Both signals together
beat either alone on the question set (`python -m bench.rag_eval`). Quotes are verbatim spans.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from rag_app.index import RagIndex
from rag_app.keywords import terms
from rag_app.retrieval import Retrieved
from rag_app.sentences import HEADING, Span, quotable

MAX_SENTENCES = 2


@dataclass
class Evidence:
    """A verbatim quote of passage `passage` (1-based, as cited [n]) that supports the answer."""

    source: str
    page: int | None
    chunk_id: str
    text: str
    passage: int
    score: float
    start: int
    end: int


def windows(text: str) -> list[Span]:
    """One sentence, or two neighbouring ones, of a passage: its quotable sentences (or, when it
    has none, any that is not a heading: a passage of code or a bare list)."""
    units = quotable(text)
    if not any(ok for _, ok in units):
        units = [(span, not HEADING.match(text, span[0])) for span, _ in units]
    found = [span for span, ok in units if ok]
    for (first, ok), (second, next_ok) in pairwise(units):
        if ok and next_ok and "```" not in text[first[1] : second[0]]:  # not across a code fence
            found.append((first[0], second[1]))
    return found


def select_evidence(index: RagIndex, found: Retrieved, rank_penalty: float) -> list[Evidence]:
    """The best quote of each retrieved passage, best first."""
    hits = found.hits
    spans = [(n, span) for n, hit in enumerate(hits) for span in windows(hit.text)]
    if not spans:
        return []
    quotes = [hits[n].text[s:e] for n, (s, e) in spans]
    vectors = np.asarray(index.embeddings.embed_documents(quotes), dtype=np.float32)
    cosines = vectors @ np.asarray(found.vector, dtype=np.float32)
    best: dict[int, Evidence] = {}
    for (n, (start, end)), quote, cosine in zip(spans, quotes, cosines, strict=True):
        coverage = index.keywords.coverage(found.query_terms, terms(quote))
        score = float(cosine) + coverage - rank_penalty * n
        if n not in best or score > best[n].score:
            hit = hits[n]
            best[n] = Evidence(
                hit.source, hit.page, hit.chunk_id, quote, n + 1, round(score, 4), start, end
            )
    return sorted(best.values(), key=lambda e: e.score, reverse=True)
