"""Fixtures for the Iris Space: one app with its lifespan running, one real server."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from conftest import SPACES, free_port, serve
from fastapi.testclient import TestClient

from iris_app.api import create_app

SPACE = SPACES / "iris-gradio"


@pytest.fixture(scope="session")
def client() -> Iterator[TestClient]:
    """The API with its lifespan running (the model loaded)."""
    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def space_url() -> Iterator[str]:
    """The whole Space (API + Gradio) started as `python app.py` on a free port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(
        [sys.executable, "app.py"], cwd=SPACE, env={"PORT": str(port)}, ready_url=f"{url}/health"
    ):
        yield url
