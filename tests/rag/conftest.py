"""Fixtures for the RAG Space: one built index, one loaded service and app, one live server."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SPACES, free_port, serve
from fastapi.testclient import TestClient

from rag_app.api import create_app
from rag_app.embeddings import load_embeddings
from rag_app.index import RagIndex
from rag_app.ingest import find_files, ingest_file
from rag_app.service import RagService
from rag_app.settings import Settings

SPACE = SPACES / "rag-docker"
KNOWLEDGE = SPACE / "knowledge"
# The shared app and server take many requests a minute and accept uploads without a key (the
# tests of uploads use them); tests/rag/test_security.py builds apps with the defaults.
OPEN_DEMO = {"rate_limit": "none", "rate_limits": {}, "uploads": "shared"}
OPEN_DEMO_ENV = {"RAG_RATE_LIMIT": "none", "RAG_RATE_LIMITS": "{}", "RAG_UPLOADS": "shared"}


def make_settings(index_dir: Path, **overrides: object) -> Settings:
    """Settings as the Space reads them, with the index in a test folder.

    llama-cpp gets one thread: with two, a generation on cores that other jobs share (CI, a busy
    laptop) can take 100x longer (its threads spin-wait on each other); the live server and the
    Docker image keep the Space's default of two.
    """
    return Settings(rag_index_dir=index_dir, **{"n_threads": 1, **overrides})  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def embeddings():
    """The packaged all-MiniLM-L6-v2 on ONNX Runtime, as the Space runs it, loaded once."""
    return load_embeddings(Settings())


def fresh_make_index() -> Path | None:
    """`make rag-index`'s index, if it was built after every change to knowledge/."""
    stamp = SPACE / "index" / ".built-from-knowledge"
    if not stamp.is_file() or not (SPACE / "index" / "current").exists():
        return None
    newest = max(p.stat().st_mtime for p in [KNOWLEDGE, *KNOWLEDGE.iterdir()])
    return SPACE / "index" if stamp.stat().st_mtime >= newest else None


@pytest.fixture(scope="session")
def built_index(tmp_path_factory: pytest.TempPathFactory, embeddings) -> Path:
    """The starter collection's index in a test folder: a copy of make's if it is up to date,
    else ingested here through the real ingest code."""
    index_dir = tmp_path_factory.mktemp("rag") / "index"
    made = fresh_make_index()
    if made is not None:
        shutil.copytree(made, index_dir, symlinks=True)
        return index_dir
    settings = make_settings(index_dir)
    index = RagIndex.create(embeddings, settings.embedding_name)
    for path in find_files([KNOWLEDGE]):
        ingest_file(index, path, settings)
    index.save(index_dir)
    return index_dir


@pytest.fixture(scope="session")
def index_copy(tmp_path_factory: pytest.TempPathFactory, built_index: Path) -> Path:
    """A pristine copy of the built index, taken before any test uploads into it."""
    copy = tmp_path_factory.mktemp("rag-copy") / "index"
    shutil.copytree(built_index, copy, symlinks=True)
    return copy


@pytest.fixture(scope="session")
def service(built_index: Path, index_copy: Path, embeddings) -> Iterator[RagService]:
    """The index and the packaged SmolLM2 loaded once, as the lifespan loads them."""
    settings = make_settings(built_index)
    index = RagIndex.load(built_index, embeddings, settings.embedding_name)
    svc = RagService(settings).load(index=index)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def client(service: RagService) -> Iterator[TestClient]:
    """The API app with its lifespan running, sharing the session's loaded service."""
    settings = make_settings(service.settings.rag_index_dir, **OPEN_DEMO)
    with TestClient(create_app(settings, service)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def space_url(tmp_path_factory: pytest.TempPathFactory, index_copy: Path) -> Iterator[str]:
    """The whole Space started as `python app.py` from a copy of its folder, on a free port."""
    copy = tmp_path_factory.mktemp("space") / SPACE.name
    shutil.copytree(SPACE, copy, ignore=shutil.ignore_patterns("__pycache__", "index"))
    index_dir = copy / "index"
    shutil.copytree(index_copy, index_dir, symlinks=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "RAG_PORT": str(port),
        "PYTHONPATH": "",
        "RAG_INDEX_DIR": str(index_dir),
        **OPEN_DEMO_ENV,
    }
    with serve(
        [sys.executable, "app.py"], cwd=copy, env=env, ready_url=f"{url}/ready", timeout=180
    ):
        yield url


TEST_KEY = "test-key-b4d-1nput"  # the keyed server's API_KEY


@pytest.fixture(scope="session")
def keyed_url(tmp_path_factory: pytest.TempPathFactory, index_copy: Path) -> Iterator[str]:
    """The whole Space with API_KEY set (so uploads go to the shared index with the key), on its
    own copy of the index, without rate limits and with short answers (RAG_MAX_TOKENS=16): the
    bad-input catalogue and schemathesis send it many requests and uploads."""
    copy = tmp_path_factory.mktemp("keyed-space") / SPACE.name
    shutil.copytree(SPACE, copy, ignore=shutil.ignore_patterns("__pycache__", "index"))
    shutil.copytree(index_copy, copy / "index", symlinks=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"RAG_PORT": str(port), "PYTHONPATH": "", "RAG_INDEX_DIR": str(copy / "index")}
    env |= {"API_KEY": TEST_KEY, "RAG_RATE_LIMIT": "none", "RAG_RATE_LIMITS": "{}"}
    env |= {"RAG_MAX_TOKENS": "16", "RAG_N_THREADS": "1"}
    cmd = [sys.executable, "app.py"]
    with serve(cmd, cwd=copy, env=env, ready_url=f"{url}/ready", timeout=180):
        yield url
