"""Static pages in Debian's chromium: a loopback file server and a page cut off from the internet.

Used by the static Spaces' browser tests and by bench/static.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bench.servers import free_port, running

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [  # the flags of tests/conftest.py's `page` fixture (a test keeps them equal)
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOOPBACK = {"127.0.0.1", "localhost"}


@contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """`python -m http.server` on 127.0.0.1 serving `folder` as plain files; yields its URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    url = f"http://127.0.0.1:{port}/"
    with running([*cmd, "--directory", str(folder)], cwd=folder, ready_url=url, timeout=30):
        yield url


def block_internet(page: Any) -> list[str]:
    """Abort every request to a host that is not loopback; returns the (live) aborted URLs."""
    aborted: list[str] = []

    def route(route: Any) -> None:
        url = route.request.url
        if urlparse(url).hostname in LOOPBACK:
            route.continue_()
        else:
            aborted.append(url)
            route.abort()

    page.route("**/*", route)
    return aborted
