"""Hybrid retrieval: dense (FAISS cosine) and keyword (BM25) candidates, fused, optionally reranked.

Fusion is a convex combination of the two scores, with RAG_DENSE_WEIGHT on the dense side: the
cosine as it is (its theoretical range, clipped at 0) and BM25 divided by the best candidate's.
Unlike reciprocal rank fusion it keeps how far apart the scores are, which measured better on the
question set (Bruch et al., "An Analysis of Fusion Functions for Hybrid Retrieval", 2023, found the
same on BEIR). Stretching the cosines to the candidates' min-max instead measured the same on the
question set, but let a near tie on the dense side outvote the only passage holding a rare
identifier.

Each hit also gets a relevance in [0, 1]: the mean of its cosine similarity and of the share of the
question's term weight (BM25's IDF) that it holds. Hits below RAG_MIN_RELEVANCE are never shown to
the LLM; a question with none left is answered "I don't know" without calling it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag_app.index import Hit, RagIndex, indexed_text
from rag_app.keywords import tokenize
from rag_app.settings import Settings


@dataclass
class Retrieved:
    """The hits for a query, best first, with the query's terms and embedding (for the quotes)."""

    hits: list[Hit]
    query_terms: set[str]
    vector: list[float]


def _best(values: np.ndarray, n: int) -> np.ndarray:
    """Positions of the n highest values, highest first (ties in position order)."""
    top = np.argpartition(-values, n)[:n] if values.size > n else np.arange(values.size)
    return top[np.argsort(-values[top], kind="stable")]


def _share_of_best(values: np.ndarray) -> np.ndarray:
    best = float(values.max())
    return values / best if best > 0 else np.zeros_like(values)


class Retriever:
    """Ranks the chunks of an index for a query; knows nothing of prompts or HTTP."""

    def __init__(self, index: RagIndex, settings: Settings, reranker: Any = None) -> None:
        import faiss

        self.index, self.settings, self.reranker = index, settings, reranker
        # One query against the flat index takes under a millisecond on one thread; FAISS's
        # OpenMP threads (one per core) made it several, waiting on each other and on the
        # embedding model and llama-cpp (bench/results/rag_search.md).
        faiss.omp_set_num_threads(1)

    def search(self, query: str, k: int) -> Retrieved:
        """The k best chunks for the query, each with its scores and relevance."""
        query_terms = tokenize([query])[0]
        vector = self.index.embeddings.embed_query(query)
        depth = max(k, self.settings.retrieval_candidates)
        if self.reranker is not None:
            depth = max(depth, self.settings.reranker_candidates)
        with self.index.lock:  # an upload swaps the keyword index and the vectors together
            ranked = self._rank(vector, query_terms, depth)
            hits = [self.index.hit(p, cos) for p, cos, _ in ranked]
            for hit, (_, _, keyword) in zip(hits, ranked, strict=True):
                hit.keyword_score = round(keyword, 4)
        if self.reranker is not None:
            hits = self.reranker.rerank(query, hits[: self.settings.reranker_candidates])
        hits = hits[:k]
        wanted = set(query_terms)
        passages = tokenize([indexed_text(h.text, h.heading) for h in hits]) if hits else []
        for hit, passage in zip(hits, passages, strict=True):  # one tokenizer call for all
            coverage = self.index.keywords.coverage(wanted, set(passage))
            hit.relevance = round((max(hit.score, 0.0) + coverage) / 2, 4)
        return Retrieved(hits, wanted, vector)

    def _rank(
        self, vector: list[float], query_terms: list[str], depth: int
    ) -> list[tuple[int, float, float]]:
        """(position, cosine, BM25 score) of the candidates, best first."""
        dense = dict(self.index.nearest(vector, depth))
        if self.settings.retrieval == "dense" or not dense:
            return [(p, cos, 0.0) for p, cos in dense.items()]
        keyword = self.index.keywords.scores(query_terms)
        top = _best(keyword, depth)
        extra = [int(p) for p in top if keyword[p] > 0 and int(p) not in dense]
        if extra:
            dense.update(zip(extra, self.index.cosines(vector, extra).tolist(), strict=True))
        positions = list(dense)
        cosines = np.array([dense[p] for p in positions])
        bm25 = keyword[positions]
        weight = self.settings.dense_weight
        fused = weight * np.clip(cosines, 0.0, 1.0) + (1 - weight) * _share_of_best(bm25)
        order = np.argsort(-fused, kind="stable")
        return [(positions[i], float(cosines[i]), float(bm25[i])) for i in order]


class CrossEncoderReranker:
    """Reorders candidates by a cross-encoder's (query, passage) score (sentence-transformers)."""

    def __init__(self, model: str, threads: int | None = None) -> None:
        if importlib.util.find_spec("torch") is None:
            raise RuntimeError(
                f"RAG_RERANKER_MODEL={model}: the cross-encoder needs sentence-transformers and "
                "PyTorch, which this installation (the Docker image) leaves out; unset "
                "RAG_RERANKER_MODEL, or run the Space from a checkout with requirements-export.txt"
            )
        from sentence_transformers import CrossEncoder

        if threads:
            import torch

            torch.set_num_threads(threads)
        self.model = CrossEncoder(model, device="cpu")
        self.name = model

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        if not hits:
            return hits
        pairs = [(query, indexed_text(h.text, h.heading)) for h in hits]
        scores = self.model.predict(pairs, show_progress_bar=False)
        order = np.argsort(-np.asarray(scores), kind="stable")
        return [hits[i] for i in order]


def main() -> None:
    """`python -m rag_app.retrieval`: fetch RAG_RERANKER_MODEL (at image build time), if set."""
    from rag_app.settings import get_settings

    model = get_settings().reranker_model
    print(CrossEncoderReranker(model).name if model else "no reranker configured")


if __name__ == "__main__":
    main()
