"""The FAISS vector store on disk: load, search, add chunks, and save atomically with a manifest.

Layout of RAG_INDEX_DIR::

    current -> gen-<n>          a symlink, swapped atomically (os.replace) after each save
    gen-<n>/index.faiss         the vectors (inner product of normalised vectors = cosine)
    gen-<n>/index.pkl           LangChain's docstore (chunk text and metadata)
    gen-<n>/manifest.json       embedding model, dimension, documents and their chunk ids
    gen-<n>/bm25/               the keyword (BM25) index of the same chunks, in the same order

A crash at any point of a save leaves `current` pointing at the previous complete generation.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag_app.keywords import FOLDER as KEYWORDS
from rag_app.keywords import KeywordIndex

if TYPE_CHECKING:
    from langchain_community.vectorstores import FAISS
    from langchain_core.embeddings import Embeddings

FORMAT = 2  # 2: sentence-aligned chunks with headings, and a BM25 index
CURRENT = "current"


class IndexLoadError(RuntimeError):
    """The index is missing, corrupt, or was built with another embedding model."""


@dataclass
class DocRecord:
    """One ingested document."""

    source: str
    sha256: str
    chunks: int
    pages: int | None
    chunk_ids: list[str]
    added_at: float = field(default_factory=time.time)


@dataclass
class Manifest:
    """What an index holds and how it was built."""

    embedding_model: str
    dim: int
    documents: list[DocRecord] = field(default_factory=list)
    distance: str = "cosine"
    format: int = FORMAT

    @property
    def chunk_count(self) -> int:
        return sum(d.chunks for d in self.documents)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw = json.loads(text)
        docs = [DocRecord(**d) for d in raw.pop("documents", [])]
        return cls(documents=docs, **raw)


@dataclass
class Hit:
    """One retrieved chunk: its cosine similarity, BM25 score and relevance to the query."""

    source: str
    page: int | None
    chunk_id: str
    text: str
    score: float
    keyword_score: float = 0.0
    relevance: float = 0.0
    heading: str = ""


def indexed_text(text: str, heading: str) -> str:
    """What is embedded and keyword-indexed for a chunk: its heading line, then its text."""
    return f"{heading}\n{text}" if heading else text


def read_manifest(index_dir: Path, embedding_name: str | None = None) -> Manifest:
    """Validate the files of the current generation; raise IndexLoadError with a remedy."""
    rebuild = f"build it with: python -m rag_app.ingest --index {index_dir} <files or folders>"
    current = index_dir / CURRENT
    if not current.exists():
        raise IndexLoadError(f"no index at {index_dir} (no '{CURRENT}' generation): {rebuild}")
    try:
        manifest = Manifest.from_json((current / "manifest.json").read_text())
    except (OSError, ValueError, TypeError) as exc:
        raise IndexLoadError(
            f"the index at {index_dir} is corrupt (manifest.json unreadable: {exc}); "
            f"delete it and {rebuild}"
        ) from exc
    if manifest.format != FORMAT:
        raise IndexLoadError(
            f"the index at {index_dir} has format {manifest.format}, this version reads "
            f"{FORMAT}: rebuild it with: python -m rag_app.ingest --rebuild --index {index_dir} "
            "<files or folders>"
        )
    if embedding_name is not None and manifest.embedding_model != embedding_name:
        raise IndexLoadError(
            f"the index at {index_dir} was built with embedding model "
            f"'{manifest.embedding_model}' (dim {manifest.dim}), but RAG_EMBEDDING_MODEL is "
            f"'{embedding_name}'; rebuild it with --rebuild or set RAG_EMBEDDING_MODEL to match"
        )
    for name in ("index.faiss", "index.pkl", f"{KEYWORDS}/terms.json"):
        if not (current / name).is_file():
            raise IndexLoadError(f"the index at {index_dir} is corrupt: {name} is missing")
    return manifest


def check_index(index_dir: Path, embedding_name: str) -> Manifest:
    """Cheap start-up check: manifest, model name, and the FAISS file's size and dimension."""
    import faiss

    manifest = read_manifest(index_dir, embedding_name)
    try:
        raw = faiss.read_index(str(index_dir / CURRENT / "index.faiss"))
    except RuntimeError as exc:
        raise IndexLoadError(
            f"the index at {index_dir} is corrupt: index.faiss unreadable"
        ) from exc
    if raw.d != manifest.dim or raw.ntotal != manifest.chunk_count:
        raise IndexLoadError(
            f"the index at {index_dir} is corrupt: index.faiss holds {raw.ntotal} vectors of "
            f"dim {raw.d}, the manifest says {manifest.chunk_count} of dim {manifest.dim}"
        )
    return manifest


def verify_index(index_dir: Path, embedding_name: str) -> Manifest:
    """Start-up check of every file of the current generation, naming the first broken one:
    check_index, then the docstore (index.pkl) and the BM25 files (JSON and numpy arrays)."""
    manifest = check_index(index_dir, embedding_name)
    current = index_dir / CURRENT
    files = [current / "index.pkl", *sorted((current / KEYWORDS).iterdir())]
    for path in files:
        try:
            if path.suffix == ".pkl":
                with path.open("rb") as f:
                    _, ids = pickle.load(f)  # our own file, written by save()
                if len(ids) != manifest.chunk_count:
                    raise ValueError(f"{len(ids)} chunks, the manifest says {manifest.chunk_count}")
            elif path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".npy":
                np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:  # pickle, EOF, JSON, numpy header or size: all mean corrupt
            name = path.relative_to(current)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise IndexLoadError(
                f"the index at {index_dir} is corrupt: {name} unreadable ({reason}); rebuild it "
                f"with: python -m rag_app.ingest --rebuild --index {index_dir} <files or folders>"
            ) from exc
    return manifest


class RagIndex:
    """A FAISS store plus its manifest; thread-safe search and add."""

    def __init__(
        self,
        store: FAISS,
        manifest: Manifest,
        embeddings: Embeddings,
        keywords: KeywordIndex | None = None,
    ) -> None:
        self.store = store
        self.manifest = manifest
        self.embeddings = embeddings
        self._keywords = keywords
        self.lock = threading.RLock()

    @property
    def keywords(self) -> KeywordIndex:
        """BM25 over every chunk in vector-store order, rebuilt on first use after a change."""
        with self.lock:
            if self._keywords is None:
                ids = [self.store.index_to_docstore_id[i] for i in range(self.store.index.ntotal)]
                docs = [self.store.docstore.search(i) for i in ids]
                texts = [indexed_text(d.page_content, d.metadata.get("heading", "")) for d in docs]
                self._keywords = KeywordIndex.build(ids, texts)
            return self._keywords

    @classmethod
    def create(cls, embeddings: Embeddings, embedding_name: str) -> RagIndex:
        """An empty index whose dimension is probed from the embedding model."""
        import faiss
        from langchain_community.docstore.in_memory import InMemoryDocstore
        from langchain_community.vectorstores import FAISS
        from langchain_community.vectorstores.utils import DistanceStrategy

        dim = len(embeddings.embed_query("dimension probe"))
        store = FAISS(
            embeddings,
            faiss.IndexFlatIP(dim),
            InMemoryDocstore(),
            {},
            distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
        )
        return cls(store, Manifest(embedding_model=embedding_name, dim=dim), embeddings)

    @classmethod
    def load(cls, index_dir: Path, embeddings: Embeddings, embedding_name: str) -> RagIndex:
        """Load the current generation; IndexLoadError if it is missing, corrupt or foreign."""
        from langchain_community.vectorstores import FAISS
        from langchain_community.vectorstores.utils import DistanceStrategy

        manifest = check_index(index_dir, embedding_name)
        try:
            store = FAISS.load_local(
                str(index_dir / CURRENT),
                embeddings,
                allow_dangerous_deserialization=True,  # our own file, written by save()
                distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
            )
            keywords = KeywordIndex.load(index_dir / CURRENT)
        except Exception as exc:  # pickle, EOF, JSON, attribute errors: all mean corrupt
            raise IndexLoadError(f"the index at {index_dir} is corrupt: {exc!r}") from exc
        if keywords.ids != [store.index_to_docstore_id[i] for i in range(store.index.ntotal)]:
            raise IndexLoadError(
                f"the index at {index_dir} is corrupt: its BM25 and FAISS files disagree"
            )
        dim = len(embeddings.embed_query("dimension probe"))
        if dim != manifest.dim:
            raise IndexLoadError(
                f"the index at {index_dir} has dimension {manifest.dim}, the embedding model "
                f"gives {dim}: rebuild it"
            )
        return cls(store, manifest, embeddings, keywords)

    @property
    def size(self) -> int:
        """Number of chunks."""
        return self.store.index.ntotal

    def known(self, sha256: str) -> DocRecord | None:
        """The document with this content hash, if the index holds it."""
        return next((d for d in self.manifest.documents if d.sha256 == sha256), None)

    def nearest(self, vector: list[float], k: int) -> list[tuple[int, float]]:
        """(position, cosine) of the k chunks nearest to a query embedding, best first."""
        with self.lock:
            scores, positions = self.store.index.search(np.array([vector], dtype=np.float32), k)
        return [(int(p), float(s)) for p, s in zip(positions[0], scores[0], strict=True) if p >= 0]

    def cosines(self, vector: list[float], positions: list[int]) -> np.ndarray:
        """Cosine similarity of the query embedding to the chunks at these positions."""
        with self.lock:
            stored = np.stack([self.store.index.reconstruct(p) for p in positions])
        return stored @ np.asarray(vector, dtype=np.float32)

    def hit(self, position: int, score: float) -> Hit:
        """The chunk at a position of the vector store as a Hit."""
        doc = self.store.docstore.search(self.store.index_to_docstore_id[position])
        meta = doc.metadata
        return Hit(
            source=meta["source"],
            page=meta.get("page"),
            chunk_id=meta["chunk_id"],
            text=doc.page_content,
            score=round(score, 4),
            heading=meta.get("heading", ""),
        )

    def add(
        self,
        record: DocRecord,
        texts: list[str],
        vectors: list[list[float]],
        metadatas: list[dict[str, Any]],
    ) -> None:
        """Add one document's chunks; a document with the same source is replaced."""
        with self.lock:
            stale = [d for d in self.manifest.documents if d.source == record.source]
            for old in stale:
                self.store.delete(old.chunk_ids)
                self.manifest.documents.remove(old)
            self.store.add_embeddings(
                list(zip(texts, vectors, strict=True)), metadatas=metadatas, ids=record.chunk_ids
            )
            self.manifest.documents.append(record)
            self._keywords = None

    def save(self, index_dir: Path) -> Path:
        """Write a new generation, then swap `current` to it; returns the generation folder."""
        index_dir.mkdir(parents=True, exist_ok=True)
        name = f"gen-{time.time_ns()}"
        tmp = index_dir / f".tmp-{name}"
        with self.lock:
            self.store.save_local(str(tmp))
            self.keywords.save(tmp)
            (tmp / "manifest.json").write_text(self.manifest.to_json())
        for path in [*tmp.iterdir(), *(tmp / KEYWORDS).iterdir()]:
            _fsync(path)
        final = index_dir / name
        os.replace(tmp, final)
        link = index_dir / f".{CURRENT}-{name}"
        link.symlink_to(name)
        os.replace(link, index_dir / CURRENT)  # atomic: readers see old or new, never neither
        _fsync(index_dir)
        _prune(index_dir, keep=name)
        return final


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(index_dir: Path, keep: str) -> None:
    """Remove older generations and leftovers of interrupted saves."""
    for path in index_dir.iterdir():
        if path.name in (keep, CURRENT):
            continue
        if path.is_symlink():
            path.unlink()
        elif path.name.startswith(("gen-", ".tmp-gen-")):
            shutil.rmtree(path, ignore_errors=True)
