"""Fixtures for the Iris Space: one app with its lifespan running, one real server."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator

import pytest
from conftest import SPACES, free_port, serve
from fastapi.testclient import TestClient

from iris_app.api import create_app
from iris_app.settings import Settings

SPACE = SPACES / "iris-gradio"
# The shared app and server take many requests a minute (schemathesis): no rate limit there;
# tests/iris/test_security.py builds its own apps with limits.
UNLIMITED = {"rate_limit": "none", "rate_limits": {}}
UNLIMITED_ENV = {"IRIS_RATE_LIMIT": "none", "IRIS_RATE_LIMITS": "{}"}


@pytest.fixture(scope="session")
def client() -> Iterator[TestClient]:
    """The API with its lifespan running (the model loaded)."""
    with TestClient(create_app(Settings(**UNLIMITED))) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def space_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The whole Space (API + Gradio) started as `python app.py` on a free port.

    It runs from a copy of the folder outside the repository, as "Duplicate this Space" would
    have it, so an import of anything outside the folder fails here.
    """
    copy = tmp_path_factory.mktemp("space") / SPACE.name
    shutil.copytree(SPACE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"IRIS_PORT": str(port), "PYTHONPATH": "", **UNLIMITED_ENV}
    with serve([sys.executable, "app.py"], cwd=copy, env=env, ready_url=f"{url}/health"):
        yield url


TEST_KEY = "test-key-1r1s-7c4e"  # the keyed server's API_KEY


@pytest.fixture(scope="session")
def keyed_space_url() -> Iterator[str]:
    """The whole Space with API_KEY set (a Space secret) and no rate limit, on a free port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"IRIS_PORT": str(port), "API_KEY": TEST_KEY, **UNLIMITED_ENV}
    with serve([sys.executable, "app.py"], cwd=SPACE, env=env, ready_url=f"{url}/ready"):
        yield url
