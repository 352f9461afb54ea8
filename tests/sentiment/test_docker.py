"""The image, built and run for real: the demo on 8501 by default, the API with
`python -m sentiment_app api`, offline; ready for Dev Mode (tools, /app owned by uid 1000)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from conftest import SPACES, free_port, wait_http
from docker_devmode import dev_mode_problems, dev_mode_tools_bytes

pytestmark = [pytest.mark.docker, pytest.mark.slow]
TAG = "hf-spaces/sentiment-streamlit:test"
SPACE = SPACES / "sentiment-streamlit"


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def image(space_image, model_dir) -> str:
    assert space_image("sentiment-streamlit") == TAG  # built once per session (tests/conftest.py)
    size = int(_docker("image", "inspect", "-f", "{{.Size}}", TAG).stdout)
    base = int(_docker("image", "inspect", "-f", "{{.Size}}", "python:3.11-slim").stdout)
    print(f"\nsentiment-streamlit image: {size / 1e9:.2f} GB, {(size - base) / 1e9:.2f} above base")
    assert size - base < 1.0e9  # 1.8 GB with PyTorch, 0.99 with transformers
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
    with container(image, 8000, "/health", "python", "-m", "sentiment_app", "api") as (cid, url):
        good = httpx.post(url + "/sentiment", json={"text": "A wonderful, moving film."}).json()
        bad = httpx.post(url + "/sentiment", json={"text": "Dull, ugly and far too long."}).json()
        assert good["label"] == "POSITIVE"
        assert bad["label"] == "NEGATIVE"
        info = httpx.get(url + "/model").json()
        assert info["model"] == "/app/model"
        assert info["backend"] == "onnx"
        graphs = _docker("exec", cid, "find", "/home/user/.cache/sentiment_app", "-name", "*.onnx")
        assert graphs.stdout == "", "the image should ship model.onnx, not export at start"
        assert info["metrics"]["imdb_heldout"]["accuracy"] >= 0.85
        assert httpx.post(url + "/sentiment", json={"text": " "}).status_code == 422
        assert _docker("exec", cid, "python", "-m", "sentiment_app", "health").returncode == 0


def test_image_has_a_healthcheck_and_runs_as_uid_1000(image: str) -> None:
    fmt = "{{json .Config.Healthcheck}} {{.Config.User}}"
    config = _docker("image", "inspect", "-f", fmt, image)
    assert "sentiment_app" in config.stdout
    assert config.stdout.strip().endswith("1000")


def test_image_meets_dev_mode_needs(image: str) -> None:
    """Dev Mode: bash, curl, wget, procps, git, git-lfs; the app in /app owned by uid 1000; a CMD
    with no ENTRYPOINT; HF_HOME under the home."""
    assert dev_mode_problems(image) == []
    assert dev_mode_tools_bytes(image) <= 110e6  # 105 MB measured; the images shrank meanwhile
    config = _docker("image", "inspect", "-f", "{{json .Config.Cmd}} {{.Config.WorkingDir}}", image)
    assert config.stdout.split(" ", 1) == ['["python","-m","sentiment_app","ui"]', "/app\n"]


def test_image_has_no_pytorch(image: str) -> None:
    """PyTorch and transformers stay in the export stage: the image cannot import them, nor has
    the weights files; it holds the model's ONNX graph, its tokenizer.json and a writable cache."""
    for module in ("torch", "transformers"):
        probe = _docker("run", "--rm", "--network", "none", image, "python", "-c",
                        f"import {module}", check=False)  # fmt: skip
        assert probe.returncode == 1
        assert f"ModuleNotFoundError: No module named '{module}'" in probe.stderr
    listing = "ls /app/model; test -w /home/user/.cache/sentiment_app/exported && echo ok"
    files = _docker("run", "--rm", "--network", "none", image, "bash", "-c", listing)
    assert {"model.onnx", "tokenizer.json", "config.json", "ok"} <= set(files.stdout.split())
    assert "model.safetensors" not in files.stdout


def test_torch_backend_stops_with_one_line_in_the_image(image: str) -> None:
    run = _docker("run", "--rm", "--network", "none", "-e", "SENTIMENT_BACKEND=torch", image,
                  "python", "-m", "sentiment_app", "api", check=False)  # fmt: skip
    assert run.returncode == 1
    assert run.stderr.strip().startswith("error: SENTIMENT_BACKEND=torch, but PyTorch is not")
