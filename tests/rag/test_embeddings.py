"""Embeddings without PyTorch: the ONNX export of all-MiniLM-L6-v2 computes what
sentence-transformers computes on PyTorch, so the index stays compatible, and the Space embeds,
searches and refuses a reranker in a process that cannot import torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SPACES

from rag_app.embeddings import OnnxEmbeddings, load_embeddings, onnx_folder, torch_embeddings
from rag_app.settings import Settings

SPACE = SPACES / "rag-docker"
QUESTIONS = Path(__file__).resolve().parents[2] / "bench" / "rag_questions.jsonl"
# Runs first in a subprocess: `import torch` (and sentence-transformers) raise, as in the image.
NO_TORCH = "import sys; sys.modules['torch'] = None; sys.modules['sentence_transformers'] = None\n"


def run_without_torch(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH + code],
        cwd=SPACE,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """Real queries (the question set) and real passages (the starter collection, cut at 2,000
    characters so that the longest run past the model's 256-token window)."""
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines()[:40]]
    passages = [p.read_text()[:2000] for p in sorted((SPACE / "knowledge").glob("*.md"))[:10]]
    return questions + passages + ["", "a"]


def test_onnx_embeddings_match_pytorch_to_1e_5_cosine(embeddings, texts: list[str]) -> None:
    assert isinstance(embeddings, OnnxEmbeddings)
    reference = torch_embeddings(Settings().embedding_path, 1)
    onnx = np.asarray(embeddings.embed_documents(texts))
    torch = np.asarray(reference.embed_documents(texts))
    assert onnx.shape == torch.shape == (len(texts), 384)
    cosines = (onnx * torch).sum(axis=1) / (
        np.linalg.norm(onnx, axis=1) * np.linalg.norm(torch, axis=1)
    )
    assert cosines.min() >= 1 - 1e-5, cosines.min()
    assert np.linalg.norm(onnx, axis=1) == pytest.approx(1.0, abs=1e-6)
    for query in texts[:10]:  # one query at a time, as /search embeds it
        a, b = np.asarray(embeddings.embed_query(query)), np.asarray(reference.embed_query(query))
        assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) >= 1 - 1e-5


def test_the_index_built_on_pytorch_serves_onnx_queries(service, embeddings, texts) -> None:
    """Same nearest chunks whichever side embeds the query: the index needs no rebuild."""
    reference = torch_embeddings(Settings().embedding_path, 1)
    index = service.index
    for query in texts[:20]:
        onnx_hits = index.nearest(embeddings.embed_query(query), 5)
        torch_hits = index.nearest(reference.embed_query(query), 5)
        assert [p for p, _ in onnx_hits] == [p for p, _ in torch_hits]
        assert [s for _, s in onnx_hits] == pytest.approx([s for _, s in torch_hits], abs=1e-5)


def test_the_space_embeds_and_searches_without_torch(built_index: Path) -> None:
    code = f"""
from rag_app.embeddings import load_embeddings
from rag_app.index import RagIndex
from rag_app.retrieval import Retriever
from rag_app.settings import Settings
settings = Settings(rag_index_dir={str(built_index)!r})
embeddings = load_embeddings(settings)
index = RagIndex.load(settings.rag_index_dir, embeddings, settings.embedding_name)
hits = Retriever(index, settings).search("When does a free Space go to sleep?", 3).hits
print(hits[0].source, "torch" in sys.modules and sys.modules["torch"] is not None)
"""
    run = run_without_torch(code)
    assert run.returncode == 0, run.stderr[-3000:]
    source, torch_loaded = run.stdout.split()
    assert source == "spaces-hardware-and-lifecycle.txt"
    assert torch_loaded == "False"


def test_no_export_and_no_torch_is_a_clear_error(tmp_path: Path) -> None:
    code = """
from rag_app.embeddings import load_embeddings
from rag_app.settings import Settings
load_embeddings(Settings())
"""
    run = run_without_torch(code, {"HOME": str(tmp_path)})
    assert run.returncode == 1
    assert "EmbeddingLoadError: no ONNX export of the embedding model" in run.stderr
    assert "PyTorch, which would make one, is not installed" in run.stderr


def test_a_reranker_without_torch_is_a_clear_error() -> None:
    code = "from rag_app.retrieval import CrossEncoderReranker\nCrossEncoderReranker('ce/x')\n"
    run = run_without_torch(code)
    assert run.returncode == 1
    assert "RAG_RERANKER_MODEL=ce/x: the cross-encoder needs sentence-transformers and PyTorch" in (
        run.stderr
    )


def test_export_writes_what_the_onnx_embeddings_read(embeddings) -> None:
    folder = onnx_folder(Settings().embedding_name)
    assert embeddings.folder == folder
    meta = json.loads((folder / "embedding.json").read_text())
    assert meta == {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "dim": 384,
        "max_seq_length": 256,
        "pooling": "mean",
        "normalize": True,
    }
    assert load_embeddings(Settings()).folder == folder  # exported once, then reused
