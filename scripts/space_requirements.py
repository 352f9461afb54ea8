"""Reading pinned requirements files: is a line pinned, what does a file (and its -r) pin."""

from __future__ import annotations

import importlib.metadata
from functools import cache
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from scripts.space_folder import REPO


def is_pinned(text: str) -> bool:
    """True for `name==1.2.3` (markers and extras allowed), not for ranges, wildcards or URLs."""
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return False
    specs = list(requirement.specifier)
    return (
        requirement.url is None
        and len(specs) == 1
        and specs[0].operator in ("==", "===")
        and not specs[0].version.endswith(".*")
    )


def requirement_pins(path: Path, seen: frozenset[Path] = frozenset()) -> dict[str, str]:
    """name -> pinned version from a requirements file, following `-r` includes."""
    pins: dict[str, str] = {}
    if not path.is_file() or path in seen:
        return pins
    for line in path.read_text().splitlines():
        text = line.split(" #", 1)[0].strip()
        if text.startswith(("-r ", "--requirement ")):
            include = (path.parent / text.split(maxsplit=1)[1]).resolve()
            pins = {**requirement_pins(include, seen | {path}), **pins}
        elif text and not text.startswith(("#", "-")) and is_pinned(text):
            requirement = Requirement(text)
            pins.setdefault(
                canonicalize_name(requirement.name), next(iter(requirement.specifier)).version
            )
    return pins


@cache
def dev_gradio_version() -> str:
    """The gradio pinned for development (requirements-dev.txt and its includes), else installed."""
    pinned = requirement_pins(REPO / "requirements-dev.txt").get("gradio")
    return pinned or importlib.metadata.version("gradio")
