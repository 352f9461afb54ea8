"""What the static Spaces' browser tests share: a built-files guard and a page that has started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import need


def need_built(folder: Path, *paths: str) -> None:
    """Skip locally, fail under CI, when `make static` has not built what the page loads."""
    missing = [p for p in paths if not (folder / p).exists()]
    need(not missing, f"spaces/{folder.name} lacks {', '.join(missing)}: run `make static`")


def open_page(page: Any, url: str, timeout_ms: float = 120_000) -> None:
    """Load the page and wait until its module has shown its first prediction."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url, wait_until="load")
    page.wait_for_function("document.body.dataset.ready", timeout=timeout_ms)
    state = page.evaluate("document.body.dataset.ready")
    assert state == "true", f"the page did not start: {errors}"
