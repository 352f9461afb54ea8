"""SIGTERM drains the real servers the image runs: `python -m sentiment_app api` stops accepting,
finishes the request in flight (its body still arriving when the signal comes) and exits 0 within
10 s; `python -m sentiment_app ui` (Streamlit, the image's CMD) exits 0 on SIGTERM too."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import free_port, serve
from sentiment.conftest import SPACE, UNLIMITED_ENV

pytestmark = pytest.mark.slow
TEXTS = ["A wonderful, heart-warming film.", "Boring, ugly and badly acted."] * 64


def test_sigterm_finishes_the_request_in_flight_refuses_new_ones_and_exits_0(
    model_dir: Path,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "sentiment_app", "api", "--host", "127.0.0.1", "--port", str(port)]
    body = json.dumps({"texts": TEXTS}).encode()
    with serve(cmd, cwd=SPACE, env=UNLIMITED_ENV, ready_url=f"{url}/ready", timeout=180) as proc:
        client = socket.create_connection(("127.0.0.1", port), timeout=30)
        head = (
            f"POST /sentiment/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        client.sendall(head.encode() + body[:100])  # the request is in flight, its body half sent
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGTERM)
        signalled = time.monotonic()
        time.sleep(1.0)
        with pytest.raises(ConnectionRefusedError):  # no longer accepting
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        assert proc.poll() is None  # still serving the request in flight
        client.sendall(body[100:])
        answer = client.makefile("rb").read().decode()  # the server closes after the response
        client.close()
        assert answer.startswith("HTTP/1.1 200"), answer[:200]
        results = json.loads(answer.split("\r\n\r\n", 1)[1])["results"]
        assert [r["label"] for r in results] == ["POSITIVE", "NEGATIVE"] * 64
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - signalled < 10


def test_the_streamlit_demo_exits_0_on_sigterm(model_dir: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "sentiment_app", "ui", "--host", "127.0.0.1", "--port", str(port)]
    with serve(cmd, cwd=SPACE, ready_url=f"{url}/_stcore/health", timeout=180) as proc:
        assert httpx.get(url + "/", timeout=30).status_code == 200
        os.killpg(proc.pid, signal.SIGTERM)
        signalled = time.monotonic()
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - signalled < 10
