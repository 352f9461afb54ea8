"""SIGTERM drains the real Space (`python app.py`): it stops accepting at once, an /ask/stream in
progress ends with a clear `error` event before uvicorn's deadline, a request waiting for the LLM
gets a 503 saying why, and the process exits 0 within 10 s."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import free_port, serve
from rag.conftest import OPEN_DEMO_ENV, SPACE

pytestmark = pytest.mark.slow
LONG_QUESTION = "Explain every setting of a Space's README front matter in detail."


def test_sigterm_ends_the_stream_with_an_event_refuses_new_connections_and_exits_0(
    tmp_path: Path, index_copy: Path
) -> None:
    copy = tmp_path / SPACE.name
    shutil.copytree(SPACE, copy, ignore=shutil.ignore_patterns("__pycache__", "index"))
    shutil.copytree(index_copy, copy / "index", symlinks=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "RAG_HOST": "127.0.0.1",
        "RAG_PORT": str(port),
        "PYTHONPATH": "",
        "RAG_INDEX_DIR": str(copy / "index"),
        "RAG_N_THREADS": "1",
        "RAG_ANSWER_MODE": "generate",  # a long answer: 400 tokens allowed, no stop sequences
        "RAG_MAX_TOKENS": "400",
        "RAG_STOP_SEQUENCES": "[]",
        "RAG_SHUTDOWN_TIMEOUT_S": "3",  # generations get 2 s to finish, then end with an event
        **OPEN_DEMO_ENV,
    }
    cmd = [sys.executable, "app.py"]
    with serve(cmd, cwd=copy, env=env, ready_url=f"{url}/ready", timeout=180) as proc:
        waiting: list[httpx.Response] = []

        def ask_behind() -> None:  # queued behind the stream's generation
            waiting.append(httpx.post(f"{url}/ask", json={"question": LONG_QUESTION}, timeout=60))

        events: list[tuple[str, dict]] = []
        with (
            httpx.Client(timeout=120) as client,
            client.stream("POST", f"{url}/ask/stream", json={"question": LONG_QUESTION}) as r,
        ):
            assert r.status_code == 200
            lines = r.iter_lines()
            event = ""
            behind = threading.Thread(target=ask_behind)
            for line in lines:
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((event, json.loads(line.removeprefix("data: "))))
                    if event == "token":
                        break  # the answer is being written
            behind.start()
            time.sleep(1.0)  # the /ask waits for the LLM
            os.killpg(proc.pid, signal.SIGTERM)
            signalled = time.monotonic()
            time.sleep(0.5)
            with pytest.raises(ConnectionRefusedError):  # no longer accepting
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            for line in lines:  # the rest of the stream, until the server ends it
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((event, json.loads(line.removeprefix("data: "))))
        behind.join(timeout=30)
        assert proc.wait(timeout=10) == 0
        exited = time.monotonic() - signalled
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "context"
    assert kinds.count("token") > 1  # tokens kept coming after the signal
    assert kinds[-1] == "error"
    assert events[-1][1]["detail"] == "shutting_down"
    assert "shutting down" in events[-1][1]["message"]
    assert exited < 10
    assert waiting[0].status_code == 503
    assert "shutting down" in waiting[0].json()["message"]
