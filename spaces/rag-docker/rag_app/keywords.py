"""Keyword retrieval: BM25 over the chunks (bm25s), saved beside the FAISS files.

Terms are lower-cased, English stop words dropped and Snowball-stemmed (PyStemmer), so "deploying"
finds "deploy". Document frequencies are kept too: they weigh how much of a question a passage
covers (`coverage`), which the relevance gate and the evidence quotes use.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

FOLDER = "bm25"


@cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    """Stemmed terms of each text, stop words removed."""
    import bm25s

    return bm25s.tokenize(
        texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False
    )


def terms(text: str) -> set[str]:
    """The distinct terms of one text."""
    return set(tokenize([text])[0])


class KeywordIndex:
    """BM25 scores for the chunks in FAISS order (`ids`), and each term's document frequency."""

    def __init__(self, bm25: Any, ids: list[str], doc_freq: dict[str, int]) -> None:
        self.bm25, self.ids, self.doc_freq = bm25, ids, doc_freq

    @classmethod
    def build(cls, ids: list[str], texts: list[str]) -> KeywordIndex:
        """Index `texts` (one per chunk id, in the vector store's order)."""
        import bm25s

        tokens = tokenize(texts)
        doc_freq = Counter(term for doc in tokens for term in set(doc))
        bm25 = None
        if texts:
            bm25 = bm25s.BM25()
            bm25.index(tokens, show_progress=False)
        return cls(bm25, list(ids), dict(doc_freq))

    def save(self, folder: Path) -> None:
        """Write the index into `folder`/bm25 (part of an index generation, so atomic with it)."""
        target = folder / FOLDER
        target.mkdir(parents=True, exist_ok=True)
        if self.bm25 is not None:
            self.bm25.save(str(target), show_progress=False)
        meta = {"ids": self.ids, "doc_freq": self.doc_freq}
        (target / "terms.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex:
        """Read what `save` wrote; OSError or ValueError if it is missing or corrupt."""
        import bm25s

        target = folder / FOLDER
        meta = json.loads((target / "terms.json").read_text())
        ids = meta["ids"]
        bm25 = bm25s.BM25.load(str(target), show_progress=False) if ids else None
        return cls(bm25, ids, meta["doc_freq"])

    @property
    def size(self) -> int:
        return len(self.ids)

    def scores(self, query_terms: list[str]) -> np.ndarray:
        """The BM25 score of every chunk for these terms."""
        known = [t for t in query_terms if t in self.doc_freq]
        if self.bm25 is None or not known:
            return np.zeros(self.size, dtype=np.float32)
        return self.bm25.get_scores(known)

    def weight(self, term: str) -> float:
        """Inverse document frequency (BM25's); a term no chunk holds weighs the most."""
        df = self.doc_freq.get(term, 0)
        return math.log(1 + (self.size - df + 0.5) / (df + 0.5))

    def coverage(self, question: set[str], passage: set[str]) -> float:
        """Share of the question's term weight that the passage holds (0 to 1)."""
        total = sum(self.weight(t) for t in question)
        if total == 0:
            return 0.0
        return sum(self.weight(t) for t in question & passage) / total
