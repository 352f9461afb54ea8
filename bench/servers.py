"""Start a real server process for a benchmark and stop it afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

# A benchmark is one client sending thousands of requests: the Spaces' per-client rate limits off.
NO_RATE_LIMITS = {
    f"{prefix}_{name}": value
    for prefix in ("IRIS", "SENTIMENT", "RAG")
    for name, value in (("RATE_LIMIT", "none"), ("RATE_LIMITS", "{}"))
}


def free_port(preferred: int = 0) -> int:
    """A TCP port nothing listens on: `preferred` when it is free, else any."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise OSError("no free TCP port on 127.0.0.1")


@contextmanager
def running(
    cmd: list[str],
    cwd: Path,
    ready_url: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 180,
) -> Iterator[float]:
    """Run `cmd` until the block ends; yields the seconds it took to answer `ready_url`."""
    began = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **NO_RATE_LIMITS, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd} exited with {proc.returncode}")
            if time.perf_counter() - began > timeout:
                raise TimeoutError(f"{ready_url} not ready after {timeout}s")
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield time.perf_counter() - began
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
