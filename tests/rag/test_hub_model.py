"""The LLM from the Hub (LLM_REPO_ID + LLM_FILENAME); the packaged SmolLM2 when it is out of reach.

A stand-in for the Hub's file endpoint on loopback serves a real GGUF (a copy of the packaged
one under another name); `python -m rag_app.llm`, the command the Docker image runs at build
time, resolves the model exactly as the Space does, pointed at the stand-in by HF_ENDPOINT.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import SPACES, free_port

from rag_app.llm import PACKAGED_GGUF, packaged_gguf

REPO_ID = "stand-in/Tiny-Instruct-GGUF"
FILENAME = "tiny-instruct-q4.gguf"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubFiles:
    """What the stand-in serves, and the paths it was asked for."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files
        self.requests: list[str] = []


def handler(hub: HubFiles) -> type[BaseHTTPRequestHandler]:
    class Hub(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def _file(self) -> Path | None:
            hub.requests.append(f"{self.command} {self.path}")
            return hub.files.get(self.path.split("?")[0])

        def _headers(self, path: Path) -> None:
            self.send_response(200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hashlib.sha256(path.name.encode()).hexdigest()}"')
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()

        def do_HEAD(self) -> None:
            path = self._file()
            if path is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._headers(path)

        def do_GET(self) -> None:
            path = self._file()
            if path is None:
                self.send_error(404)
                return
            self._headers(path)
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    self.wfile.write(chunk)

    return Hub


@pytest.fixture(scope="module")
def hub() -> Iterator[tuple[str, HubFiles]]:
    files = HubFiles({f"/{REPO_ID}/resolve/main/{FILENAME}": Path(packaged_gguf())})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler(files))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", files
    server.shutdown()


def resolve(hf_home: Path, **env: str) -> subprocess.CompletedProcess:
    """`python -m rag_app.llm` as the image runs it, with a fresh HF cache."""
    # TRANSFORMERS_OFFLINE too: huggingface_hub reads it as HF_HUB_OFFLINE, and another test
    # folder's conftest sets it for the whole session.
    own = ("HF_", "LLM_", "TRANSFORMERS_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    return subprocess.run(
        [sys.executable, "-m", "rag_app.llm"],
        cwd=SPACES / "rag-docker",
        env={**clean, "HF_HOME": str(hf_home), "LLM_REPO_ID": REPO_ID, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_hub_gguf_is_downloaded_then_served_from_the_cache(
    hub: tuple[str, HubFiles], tmp_path: Path
) -> None:
    url, files = hub
    first = resolve(tmp_path, HF_ENDPOINT=url, LLM_FILENAME=FILENAME)
    assert first.returncode == 0, first.stderr
    path = Path(first.stdout.strip())
    assert path.name == FILENAME
    assert path.is_relative_to(tmp_path)  # in HF_HOME's cache, not the packaged model
    assert path.read_bytes()[:4] == b"GGUF"
    assert path.stat().st_size == Path(packaged_gguf()).stat().st_size
    assert f"GET /{REPO_ID}/resolve/main/{FILENAME}" in files.requests

    # At run time the image is offline: the cached file is found without asking the Hub.
    asked = len(files.requests)
    again = resolve(tmp_path, HF_ENDPOINT=url, LLM_FILENAME=FILENAME, HF_HUB_OFFLINE="1")
    assert again.returncode == 0, again.stderr
    assert Path(again.stdout.strip()) == path
    assert len(files.requests) == asked


def test_an_unreachable_hub_falls_back_to_the_packaged_model(tmp_path: Path) -> None:
    done = resolve(tmp_path, LLM_FILENAME=FILENAME, HF_HUB_OFFLINE="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == packaged_gguf()
    assert "the Hub is unreachable" in done.stderr
    assert PACKAGED_GGUF in done.stderr


def test_a_file_the_hub_does_not_have_is_an_error_not_a_fallback(
    hub: tuple[str, HubFiles], tmp_path: Path
) -> None:
    url, _ = hub
    done = resolve(tmp_path, HF_ENDPOINT=url, LLM_FILENAME="no-such-file.gguf")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot download no-such-file.gguf from {REPO_ID} (404")
    assert "Traceback" not in done.stderr
