"""Shared fixtures: the built model loaded once, one TestClient app, one real uvicorn server."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SPACE = Path(__file__).resolve().parents[2] / "spaces" / "sentiment-streamlit"
MODEL_DIR = SPACE / "model"
# No Hub here: fail fast instead of waiting on the network, and use the model `make` built.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["SENTIMENT_MODEL"] = str(MODEL_DIR)
# The shared app and server take many requests a minute (schemathesis): no rate limit there;
# tests/sentiment/test_security.py builds its own apps with limits.
UNLIMITED = {"rate_limit": "none", "rate_limits": {}}
UNLIMITED_ENV = {"SENTIMENT_RATE_LIMIT": "none", "SENTIMENT_RATE_LIMITS": "{}"}


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The fine-tuned model folder; `make sentiment-model` builds it."""
    if not (MODEL_DIR / "config.json").is_file():
        pytest.fail(f"{MODEL_DIR} is missing: run `make sentiment-model`", pytrace=False)
    return MODEL_DIR


@pytest.fixture(scope="session")
def sentiment_model(model_dir: Path):
    """The real model, loaded once per test session."""
    from sentiment_app.model import load_model
    from sentiment_app.settings import Settings

    return load_model(Settings(model=str(model_dir)))


@pytest.fixture(scope="session")
def client(model_dir: Path) -> Iterator:
    """A TestClient running the API's lifespan (loads the model once)."""
    from fastapi.testclient import TestClient

    from sentiment_app.api import create_app
    from sentiment_app.settings import Settings

    with TestClient(create_app(Settings(**UNLIMITED))) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def api_server(model_dir: Path) -> Iterator[str]:
    """The API under uvicorn in a subprocess, as `python -m sentiment_app api` starts it."""
    from conftest import free_port, serve

    port = free_port()
    cmd = [sys.executable, "-m", "sentiment_app", "api", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with serve(cmd, cwd=SPACE, env=UNLIMITED_ENV, ready_url=f"{url}/ready", timeout=180):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def ui_server(model_dir: Path) -> Iterator[str]:
    """The Streamlit demo in a subprocess, as the image's default command starts it."""
    from conftest import free_port, serve

    port = free_port()
    cmd = [sys.executable, "-m", "sentiment_app", "ui", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with serve(cmd, cwd=SPACE, ready_url=f"{url}/_stcore/health", timeout=180):
        yield url


TEST_KEY = "test-key-s3nt-91ab"  # the keyed server's API_KEY


@pytest.fixture(scope="session")
def keyed_api_server(model_dir: Path) -> Iterator[str]:
    """The API under uvicorn with API_KEY set (a Space secret) and no rate limit."""
    from conftest import free_port, serve

    port = free_port()
    cmd = [sys.executable, "-m", "sentiment_app", "api", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    env = {"API_KEY": TEST_KEY, **UNLIMITED_ENV}
    with serve(cmd, cwd=SPACE, env=env, ready_url=f"{url}/ready", timeout=180):
        yield url
