"""`make run` (scripts/run_local.py): one Space or all; what cannot start says so in one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import REPO, free_port, serve

RUN_LOCAL = [sys.executable, str(REPO / "scripts" / "run_local.py")]


def run_local(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """run_local.py to its end (it ends only when it cannot start or a Space exits)."""
    return subprocess.run(
        [*RUN_LOCAL, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=240,
    )


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def make_dry_run(*args: str) -> str:
    """What `make -n run ...` would execute (as a top-level make: `make test` runs pytest with
    MAKEFLAGS and MAKELEVEL set, which would add "Entering directory" lines)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return dry.stdout


def test_make_run_passes_the_space_and_its_port() -> None:
    assert "scripts/run_local.py iris-gradio --port 7870" in make_dry_run(
        "SPACE=iris-gradio", "PORT=7870"
    )
    assert make_dry_run().rstrip().endswith("scripts/run_local.py")


def test_an_unknown_space_is_one_line_naming_the_spaces() -> None:
    result = run_local("iris")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: unknown Space 'iris'; choose one of: iris-gradio, sentiment-streamlit, "
        "rag-docker, iris-static, sentiment-static"
    ]


def test_a_port_without_one_space_is_refused() -> None:
    result = run_local("--port", "7870")
    assert result.returncode == 2
    assert "name it, as in make run SPACE=iris-gradio PORT=7870" in result.stderr


@pytest.mark.parametrize("space", ["iris-gradio", "sentiment-streamlit", "iris-static"])
def test_a_taken_port_is_one_line_saying_what_to_do(space: str) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = run_local(space, "--port", str(port))
    assert result.returncode == 2
    assert result.stdout == ""  # nothing started
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: port {port} is in use, and {space} (")
    assert f"make run SPACE={space} PORT=<free port>" in line


@pytest.mark.slow
@pytest.mark.parametrize(
    ("space", "env", "says"),
    [
        (
            "iris-gradio",
            {"IRIS_MODEL_PATH": "/nonexistent/model.joblib"},
            "python -m iris_app.train",
        ),
        (
            "sentiment-streamlit",
            {
                "SENTIMENT_MODEL": "/nonexistent/model",
                "SENTIMENT_FALLBACK_MODEL": "/nonexistent/fallback",
                "HF_HUB_OFFLINE": "1",
            },
            "make sentiment-model",
        ),
        ("rag-docker", {"RAG_INDEX_DIR": "/nonexistent/index"}, "python -m rag_app.ingest"),
        ("rag-docker", {"LLM_MODEL_PATH": "/nonexistent/model.gguf"}, "at a GGUF model"),
    ],
    ids=["iris-model", "sentiment-model", "rag-index", "rag-llm"],
)
def test_a_missing_artifact_is_one_line_saying_what_to_do(
    space: str, env: dict[str, str], says: str
) -> None:
    result = run_local(space, "--port", str(free_port()), env=env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = error_lines(result)
    assert errors, result.stderr[-2000:]
    assert len(set(errors)) == 1  # the sentiment Space's two commands say the same
    assert "/nonexistent/" in errors[0]
    assert says in errors[0]


@pytest.mark.slow
def test_one_space_runs_alone_on_the_port_given(tmp_path: Path) -> None:
    port = free_port()
    with serve(
        [*RUN_LOCAL, "iris-gradio", "--port", str(port)],
        cwd=tmp_path,
        ready_url=f"http://127.0.0.1:{port}/health",
    ):
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()["status"] == "ok"
        mcp_page = httpx.get(f"http://127.0.0.1:{port}/gradio_api/mcp/", timeout=10)
        assert mcp_page.status_code == 200
