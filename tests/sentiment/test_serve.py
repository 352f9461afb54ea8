"""`python -m sentiment_app.serve`: the Space's API on Ray Serve, for real, on this machine (Ray on
127.0.0.1), with Serve's `@serve.batch` in place of the micro-batcher. The multi-node cluster is
tests/ray_cluster/test_serve_cluster.py."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import REPO, SPACES, free_port, serve
from mcp_client import call_tool, json_of
from prometheus_client.parser import text_string_to_metric_families

from bench.processes import listening_addresses
from sentiment_app.api import create_app
from sentiment_app.settings import Settings

pytestmark = pytest.mark.slow
SPACE = SPACES / "sentiment-streamlit"
SENTENCES = REPO / "tests" / "sentiment_static" / "sentences.txt"  # the project's own sentences
MAX_BATCH = 16


@pytest.fixture(scope="module")
def texts() -> list[str]:
    lines = SENTENCES.read_text().splitlines()
    return [t for t in lines if t.strip() and not t.startswith("#")][:64]


@pytest.fixture(scope="module")
def served(model_dir: Path) -> Iterator[tuple[str, int]]:
    """One replica (its /metrics is the only one) behind Serve's proxy on a loopback port."""
    port = free_port()
    env = {
        "SENTIMENT_HOST": "127.0.0.1",
        "SENTIMENT_PORT": str(port),
        "SENTIMENT_MAX_BATCH": str(MAX_BATCH),
        "SENTIMENT_RATE_LIMIT": "none",
        "SENTIMENT_RATE_LIMITS": "{}",
    }
    cmd = [sys.executable, "-m", "sentiment_app.serve", "--replicas", "1"]
    url = f"http://127.0.0.1:{port}"
    with serve(cmd, cwd=SPACE, env=env, ready_url=f"{url}/ready", timeout=240) as proc:
        yield url, proc.pid


def batches(url: str) -> tuple[float, float, float]:
    """sentiment_batch_size from /metrics: (batches, texts, batches of at most MAX_BATCH)."""
    found = {"count": 0.0, "sum": 0.0, "small": 0.0}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name == "sentiment_batch_size_count":
                found["count"] = sample.value
            elif sample.name == "sentiment_batch_size_sum":
                found["sum"] = sample.value
            elif sample.name == "sentiment_batch_size_bucket" and sample.labels["le"] == "16.0":
                found["small"] = sample.value
    return found["count"], found["sum"], found["small"]


def test_same_routes_and_schemas_as_the_space(served: tuple[str, int]) -> None:
    url, _ = served
    assert httpx.get(f"{url}/openapi.json").json() == create_app(Settings()).openapi()
    bad = httpx.post(f"{url}/sentiment", json={"text": " "})
    assert bad.status_code == 422
    assert set(bad.json()) == {"message", "detail"}
    assert httpx.get(f"{url}/model").json()["backend"] == "onnx"


def test_a_batch_request_is_cut_into_serve_batches_and_answers_like_the_model(
    served: tuple[str, int], texts: list[str], sentiment_model
) -> None:
    url, _ = served
    count, total, small = batches(url)
    answer = httpx.post(f"{url}/sentiment/batch", json={"texts": texts}, timeout=120)
    assert answer.status_code == 200, answer.text
    expected = sentiment_model.predict(texts)
    got = answer.json()["results"]
    assert [r["label"] for r in got] == [p.label for p in expected]
    assert [r["score"] for r in got] == pytest.approx([p.score for p in expected], abs=1e-5)
    count2, total2, small2 = batches(url)
    assert total2 - total == len(texts)  # every text went through @serve.batch once
    assert count2 - count >= len(texts) / MAX_BATCH  # in batches of SENTIMENT_MAX_BATCH at most
    assert small2 - small == count2 - count


def test_concurrent_requests_share_model_calls(
    served: tuple[str, int], texts: list[str], sentiment_model
) -> None:
    url, _ = served
    count, _, _ = batches(url)

    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as client:
            return await asyncio.gather(
                *(client.post(f"{url}/sentiment", json={"text": t}) for t in texts[:32])
            )

    answers = asyncio.run(post_all())
    expected = sentiment_model.predict(texts[:32])
    assert [a.json()["label"] for a in answers] == [p.label for p in expected]
    assert batches(url)[0] - count < 32  # fewer model calls than requests


def test_mcp_tool_answers_through_serve(served: tuple[str, int], texts: list[str]) -> None:
    url, _ = served
    result = json_of(call_tool(f"{url}/mcp", "classify", {"texts": texts[:3]}))
    direct = httpx.post(f"{url}/sentiment/batch", json={"texts": texts[:3]}).json()
    assert [r["label"] for r in result["results"]] == [r["label"] for r in direct["results"]]


def test_everything_listens_on_loopback(served: tuple[str, int]) -> None:
    _, pid = served
    outside = [a for a in listening_addresses(pid) if "127.0.0.1" not in a]
    assert outside == [], f"Ray or Serve listens beyond loopback: {outside}"
