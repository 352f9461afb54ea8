"""Reading pinned requirements files: is a line pinned, what does a file (and its -r) pin."""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterable
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


def requirement_names(path: Path) -> dict[str, frozenset[str]]:
    """name -> extras of every requirement line of a file (pinned or not, no includes)."""
    names: dict[str, frozenset[str]] = {}
    lines = path.read_text().splitlines() if path.is_file() else []
    for line in lines:
        text = line.split(" #", 1)[0].strip()
        if text and not text.startswith(("#", "-")):
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            names[canonicalize_name(requirement.name)] = frozenset(requirement.extras)
    return names


PIP_OPTIONS_WITH_VALUE = {"-r", "--requirement", "-c", "--constraint", "-f", "--find-links"}
PIP_OPTIONS_WITH_VALUE |= {"-i", "--index-url", "--extra-index-url", "-e", "--editable"}


def dockerfile_pip_installs(dockerfile: Path) -> set[str]:
    """Distribution names a Dockerfile installs by name with `pip install` (not via -r)."""
    text = dockerfile.read_text() if dockerfile.is_file() else ""
    names: set[str] = set()
    for command in re.findall(r"pip3? install((?:[^\n&;|]|\\\n)*)", text):
        words = command.replace("\\\n", " ").split()
        skip = False
        for word in words:
            if skip or word.startswith("-"):
                skip = word in PIP_OPTIONS_WITH_VALUE
                continue
            if "$" in word or "/" in word or word.endswith(".txt"):
                continue
            try:
                names.add(canonicalize_name(Requirement(word.strip("'\"")).name))
            except InvalidRequirement:
                continue
    return names


def dependency_closure(requirements: dict[str, frozenset[str]]) -> set[str]:
    """The installed distributions that installing `requirements` brings (markers evaluated)."""
    seen: set[str] = set()
    todo: list[tuple[str, Iterable[str]]] = list(requirements.items())
    while todo:
        name, extras = todo.pop()
        name = canonicalize_name(name)
        if name in seen and not extras:
            continue
        seen.add(name)
        try:
            declared = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in declared:
            requirement = Requirement(line)
            wanted = requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in {"", *extras}
            )
            if wanted and canonicalize_name(requirement.name) not in seen:
                todo.append((requirement.name, frozenset(requirement.extras)))
    return seen
