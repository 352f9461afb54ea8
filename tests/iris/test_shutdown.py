"""SIGTERM drains the real server: `python app.py` stops accepting, finishes the request in flight
(its body still arriving when the signal comes), and exits 0 well within 10 s."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
from conftest import SPACES, free_port, serve

from iris_app.schemas import SETOSA, VIRGINICA

pytestmark = pytest.mark.slow
SPACE = SPACES / "iris-gradio"


def test_sigterm_finishes_the_request_in_flight_refuses_new_ones_and_exits_0(
    tmp_path: Path,
) -> None:
    copy = tmp_path / SPACE.name
    shutil.copytree(SPACE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    env = {"IRIS_HOST": "127.0.0.1", "IRIS_PORT": str(port), "PYTHONPATH": ""}
    url = f"http://127.0.0.1:{port}"
    body = json.dumps({"items": [SETOSA, VIRGINICA] * 50}).encode()
    with serve([sys.executable, "app.py"], cwd=copy, env=env, ready_url=f"{url}/ready") as proc:
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        head = (
            f"POST /predict/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
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
        predictions = json.loads(answer.split("\r\n\r\n", 1)[1])["predictions"]
        assert [p["species"] for p in predictions] == ["setosa", "virginica"] * 50
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - signalled < 10
