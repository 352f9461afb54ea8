"""The image, built and run for real: the demo on 8501 by default, the API with `api`, offline."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from conftest import SPACES, docker_ready, free_port, need, wait_http

pytestmark = [pytest.mark.docker, pytest.mark.slow]
TAG = "hf-spaces/sentiment-streamlit:test"
SPACE = SPACES / "sentiment-streamlit"


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def image(wheel_server: str, model_dir) -> str:
    need(docker_ready(), "no Docker engine (run ../shared/docker/engine.sh all)")
    args = ["--build-arg", f"PIP_FIND_LINKS={wheel_server}", "--build-arg", "TORCH_INDEX="]
    build = subprocess.run(
        ["docker", "build", "--network", "host", "-t", TAG, *args, str(SPACE)],
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    size = int(_docker("image", "inspect", "-f", "{{.Size}}", TAG).stdout)
    print(f"\nsentiment-streamlit image: {size / 1e9:.2f} GB")
    return TAG


@contextmanager
def container(image: str, inner_port: int, ready_path: str, *cmd: str) -> Iterator[str]:
    """Run the image offline (HF_HUB_OFFLINE=1) on a loopback port until the block ends."""
    port = free_port()
    run = _docker("run", "-d", "-e", "HF_HUB_OFFLINE=1", "-p", f"127.0.0.1:{port}:{inner_port}",
                  image, *cmd)  # fmt: skip
    cid = run.stdout.strip()
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(url + ready_path, timeout=180)
        except TimeoutError as exc:
            logs = _docker("logs", cid, check=False).stderr[-3000:]
            raise AssertionError(f"{exc}\n{logs}") from None
        yield cid, url
    finally:
        _docker("rm", "-f", cid, check=False)


def test_default_command_serves_the_streamlit_demo(image: str) -> None:
    with container(image, 8501, "/_stcore/health") as (cid, url):
        assert httpx.get(url + "/_stcore/health").text == "ok"
        assert "<title>Streamlit</title>" in httpx.get(url + "/").text
        assert _docker("exec", cid, "python", "-m", "sentiment_app", "health").returncode == 0
        assert _docker("exec", cid, "id", "-u").stdout.strip() == "1000"


def test_api_command_answers_with_the_packaged_model(image: str) -> None:
    with container(image, 8000, "/health", "api") as (cid, url):
        good = httpx.post(url + "/sentiment", json={"text": "A wonderful, moving film."}).json()
        bad = httpx.post(url + "/sentiment", json={"text": "Dull, ugly and far too long."}).json()
        assert good["label"] == "POSITIVE"
        assert bad["label"] == "NEGATIVE"
        info = httpx.get(url + "/model").json()
        assert info["model"] == "/home/user/app/model"
        assert info["backend"] == "onnx"
        no_export = _docker("exec", cid, "test", "!", "-e", "/home/user/.cache/sentiment_app")
        assert no_export.returncode == 0, "the image should ship model.onnx, not export at start"
        assert info["metrics"]["imdb_heldout"]["accuracy"] >= 0.85
        assert httpx.post(url + "/sentiment", json={"text": " "}).status_code == 422
        assert _docker("exec", cid, "python", "-m", "sentiment_app", "health").returncode == 0


def test_image_has_a_healthcheck_and_runs_as_uid_1000(image: str) -> None:
    fmt = "{{json .Config.Healthcheck}} {{.Config.User}}"
    config = _docker("image", "inspect", "-f", fmt, image)
    assert "sentiment_app" in config.stdout
    assert config.stdout.strip().endswith("1000")
