"""`python -m iris_app.serve`: the Space's API on Ray Serve, for real, on this machine (Ray on
127.0.0.1). The multi-node cluster is tests/ray_cluster/test_serve_cluster.py."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from conftest import SPACES, free_port, serve
from prometheus_client.parser import text_string_to_metric_families

from bench.processes import descendants, listening_addresses
from iris_app.api import create_app
from iris_app.model import IrisModel
from iris_app.settings import Settings

pytestmark = pytest.mark.slow
SPACE = SPACES / "iris-gradio"
REPLICA = "x-serve-replica"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, subprocess.Popen]]:
    """Two replicas behind Serve's proxy on a free loopback port; yields (url, the command)."""
    port = free_port()
    env = {"IRIS_HOST": "127.0.0.1", "IRIS_PORT": str(port), "IRIS_RATE_LIMIT": "none"}
    cmd = [sys.executable, "-m", "iris_app.serve", "--replicas", "2"]
    url = f"http://127.0.0.1:{port}"
    with serve(cmd, cwd=SPACE, env=env, ready_url=f"{url}/ready", timeout=180) as proc:
        yield url, proc


def flowers(n: int) -> list[dict[str, float]]:
    """`n` different flowers across the three species' ranges."""
    return [
        {
            "sepal_length": 4.5 + (i % 30) * 0.1,
            "sepal_width": 2.2 + (i % 12) * 0.15,
            "petal_length": 1.0 + (i % 50) * 0.11,
            "petal_width": 0.1 + (i % 24) * 0.1,
        }
        for i in range(n)
    ]


def model_calls(url: str) -> tuple[float, float]:
    """(model calls, rows) from iris_batch_size on /metrics, summed over both replicas (each
    answer names its replica). The scrapes go 32 at a time: Serve's router sends requests one at
    a time to whichever replica it likes, and concurrent ones to both."""
    seen: dict[str, tuple[float, float]] = {}
    for _ in range(25):
        for answer in asyncio.run(_get_all(f"{url}/metrics", 32)):
            samples = {
                s.name: s.value
                for family in text_string_to_metric_families(answer.text)
                for s in family.samples
            }
            seen[answer.headers[REPLICA]] = (
                samples.get("iris_batch_size_count", 0.0),
                samples.get("iris_batch_size_sum", 0.0),
            )
        if len(seen) == 2:
            break
    assert len(seen) == 2, seen
    return sum(c for c, _ in seen.values()), sum(r for _, r in seen.values())


async def _get_all(url: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(*(client.get(url) for _ in range(count)))


async def _post_all(url: str, bodies: list[dict]) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(*(client.post(url, json=b) for b in bodies))


def test_same_routes_and_schemas_as_the_space(served: tuple[str, subprocess.Popen]) -> None:
    url, _ = served
    assert httpx.get(f"{url}/openapi.json").json() == create_app(Settings()).openapi()
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    bad = httpx.post(f"{url}/predict", json={"sepal_length": -1})
    assert bad.status_code == 422
    assert set(bad.json()) == {"message", "detail"}
    assert len(httpx.get(f"{url}/health").headers.get_list("x-request-id")) == 1


def test_concurrent_predictions_each_get_their_own_answer_from_both_replicas(
    served: tuple[str, subprocess.Popen],
) -> None:
    """64 flowers at once go through @serve.batch in two replicas; every caller gets the model's
    answer for its own flower, as the Space's micro-batcher gives it."""
    url, _ = served
    settings = Settings()
    model = IrisModel.load(settings.model_path, settings.metadata_path)
    bodies = flowers(64)
    expected = model.predict(np.array([[b[f] for f in model.features] for b in bodies]))
    calls, rows = model_calls(url)
    answers = asyncio.run(_post_all(f"{url}/predict", bodies))
    calls2, rows2 = model_calls(url)
    assert rows2 - rows == len(bodies)
    assert calls2 - calls < len(bodies)  # @serve.batch: fewer model calls than requests
    assert [a.status_code for a in answers] == [200] * len(bodies)
    for answer, want in zip(answers, expected, strict=True):
        got = answer.json()
        assert got["species"] == want.species
        assert got["probabilities"] == pytest.approx(want.probabilities, abs=1e-6)
        assert got["model_version"] == model.version
    replicas = {a.headers[REPLICA] for a in answers}
    for _ in range(5):  # Serve's router picks among the replicas; both answer within a few rounds
        if len(replicas) == 2:
            break
        replicas |= {a.headers[REPLICA] for a in asyncio.run(_post_all(f"{url}/predict", bodies))}
    assert len(replicas) == 2, replicas


def test_everything_listens_on_loopback_and_sigterm_stops_it_all(
    served: tuple[str, subprocess.Popen],
) -> None:
    url, proc = served
    pid = proc.pid
    addresses = listening_addresses(pid)
    assert f"127.0.0.1:{url.rsplit(':', 1)[1]}" in addresses
    outside = [a for a in addresses if "127.0.0.1" not in a]
    assert outside == [], f"Ray or Serve listens beyond loopback: {outside}"

    tree = descendants(pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(_alive(p) for p in tree):
        time.sleep(0.5)
    assert [p for p in tree if _alive(p)] == []
    assert proc.wait(timeout=5) == 0


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
