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


def windows(text: str) -> tuple[list[Span], list[tuple[int, int]]]:
    """A passage's quotable sentences (or, when it has none, any that is not a heading: code or a
    bare list), and the pairs of neighbouring ones, as indices into that list."""
    units = quotable(text)
    if not any(ok for _, ok in units):
        units = [(span, not HEADING.match(text, span[0])) for span, _ in units]
    kept = [n for n, (_, ok) in enumerate(units) if ok]
    sentences = [units[n][0] for n in kept]
    pairs = [
        (i, i + 1)
        for i, (a, b) in enumerate(pairwise(kept))
        if b == a + 1 and "```" not in text[units[a][0][1] : units[b][0][0]]  # not across a fence
    ]
    return sentences, pairs


def select_evidence(index: RagIndex, found: Retrieved, rank_penalty: float) -> list[Evidence]:
    """The best quote of each retrieved passage, best first.

    Sentences are embedded once; a pair's embedding is the normalised sum of its two sentences'
    (half the encoder work of embedding pairs too, the largest cost of a question).
    """
    query = np.asarray(found.vector, dtype=np.float32)
    best: list[Evidence] = []
    for n, hit in enumerate(found.hits):
        sentences, pairs = windows(hit.text)
        if not sentences:
            continue
        texts = [hit.text[s:e] for s, e in sentences]
        vectors = np.asarray(index.embeddings.embed_documents(texts), dtype=np.float32)
        spans = list(sentences) + [(sentences[i][0], sentences[j][1]) for i, j in pairs]
        if pairs:
            summed = np.stack([vectors[i] + vectors[j] for i, j in pairs])
            summed /= np.linalg.norm(summed, axis=1, keepdims=True)
            vectors = np.vstack([vectors, summed])
        scored = []
        for (start, end), cosine in zip(spans, vectors @ query, strict=True):
            quote = hit.text[start:end]
            coverage = index.keywords.coverage(found.query_terms, terms(quote))
            scored.append((float(cosine) + coverage - rank_penalty * n, start, end))
        score, start, end = max(scored)
        best.append(
            Evidence(hit.source, hit.page, hit.chunk_id, hit.text[start:end], n + 1,
                     round(score, 4), start, end)
        )  # fmt: skip
    return sorted(best, key=lambda e: e.score, reverse=True)
