"""The loaded parts of the Space (index, LLM queue, chain), shared by the API and the UI."""

from __future__ import annotations

import threading
from pathlib import Path

from rag_app.chain import RagChain
from rag_app.embeddings import load_embeddings
from rag_app.index import DocRecord, Hit, RagIndex
from rag_app.ingest import IngestResult, ingest_bytes
from rag_app.llm import Backend, GenerationQueue, build_backend
from rag_app.retrieval import CrossEncoderReranker
from rag_app.settings import Settings


class RagService:
    """Loaded once at start-up by the API's lifespan; `ready` once index and LLM are loaded."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.index: RagIndex | None = None
        self.queue: GenerationQueue | None = None
        self.chain: RagChain | None = None
        self._write = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.chain is not None

    def load(self, backend: Backend | None = None, index: RagIndex | None = None) -> RagService:
        """Load the index and the LLM (or use the ones given); IndexLoadError/LLMError if broken."""
        s = self.settings
        if index is None:
            embeddings = load_embeddings(s)
            index = RagIndex.load(s.rag_index_dir, embeddings, s.embedding_name)
        if backend is None:
            backend = build_backend(s)
            backend.load()  # type: ignore[attr-defined]
        reranker = None
        if s.reranker_model:
            reranker = CrossEncoderReranker(s.reranker_model, s.torch_threads)
        self.index = index
        self.queue = GenerationQueue(
            backend, s.queue_size, s.queue_timeout_s, s.generation_timeout_s
        )
        self.chain = RagChain(index, self.queue, s, reranker)
        return self

    def close(self) -> None:
        if self.queue is not None:
            self.queue.close()

    @property
    def llm_name(self) -> str:
        return self.queue.backend.name if self.queue else "not loaded"

    def search(self, query: str, top_k: int) -> list[Hit]:
        """The top_k passages for a query (hybrid or dense, reranked if configured), no LLM."""
        assert self.chain is not None
        return self.chain.retriever.search(query, top_k).hits

    def documents(self) -> list[DocRecord]:
        assert self.index is not None
        return list(self.index.manifest.documents)

    def add_document(self, name: str, data: bytes) -> IngestResult:
        """Ingest an uploaded file and persist the index (one writer at a time)."""
        assert self.index is not None
        with self._write:
            result = ingest_bytes(self.index, Path(name).name, data, self.settings)
            if result.status != "skipped":
                self.index.save(self.settings.rag_index_dir)
            return result
