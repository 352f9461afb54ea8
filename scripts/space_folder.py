"""What a Space folder is: its card (README front matter) and the files that go to the Hub."""

from __future__ import annotations

import fnmatch
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub.repocard import metadata_load

REPO = Path(__file__).resolve().parents[1]
SPACES_DIR = REPO / "spaces"

# Committed or not, these never go to the Hub: tests, caches, local environments, logs and the
# build outputs that `make` writes into a Space folder (the Space builds or downloads its own).
DEV_ONLY_DIRS = ("tests", "__pycache__", ".pytest_cache", ".ruff_cache", ".venv", ".git")
DEV_ONLY_DIRS += ("node_modules",)  # a static Space's build step installs its own
DEV_ONLY_TOP_DIRS = ("model", "index")
DEV_ONLY_FILES = ("*.pyc", "*.log", ".env")


@dataclass
class SpaceFolder:
    """One `spaces/<name>/` folder and its parsed card."""

    path: Path
    card: dict[str, Any] = field(default_factory=dict)
    card_error: str | None = None

    @property
    def name(self) -> str:
        """The folder name, which is also the Space's name on the Hub."""
        return self.path.name

    @property
    def sdk(self) -> str | None:
        """The `sdk` of the card, as written (never assumed)."""
        sdk = self.card.get("sdk")
        return str(sdk) if sdk is not None else None

    def summary(self) -> dict[str, Any]:
        """The fields a workflow matrix or a person needs, as plain JSON values."""
        return {
            "name": self.name,
            "sdk": self.sdk,
            "title": self.card.get("title"),
            "app_file": self.card.get("app_file"),
            "app_port": self.card.get("app_port"),
            "path": _display(self.path),
        }


def _display(path: Path) -> str:
    """A path relative to the repository when inside it, else absolute."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def read_card(folder: Path) -> tuple[dict[str, Any], str | None]:
    """Parse README.md front matter with huggingface_hub; return (card, error message)."""
    readme = folder / "README.md"
    if not readme.is_file():
        return {}, "README.md is missing (its front matter is the Space's configuration)"
    try:
        card = metadata_load(readme)
    except (yaml.YAMLError, ValueError) as exc:
        detail = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        return {}, f"README.md front matter does not parse as YAML: {detail}"
    if card is None:
        return {}, "README.md has no front matter block (--- ... --- at the top)"
    return card, None


def load_space(folder: Path) -> SpaceFolder:
    """A SpaceFolder with its card read (or the reason it could not be)."""
    card, error = read_card(folder)
    return SpaceFolder(path=folder.resolve(), card=card, card_error=error)


def discover(spaces_dir: Path = SPACES_DIR) -> list[SpaceFolder]:
    """Every folder under `spaces_dir` that has a README.md, sorted by name."""
    folders = sorted(p for p in spaces_dir.iterdir() if (p / "README.md").is_file())
    return [load_space(p) for p in folders]


def select(spaces: list[SpaceFolder], name: str | None) -> list[SpaceFolder]:
    """All spaces, or the one called `name` (ValueError naming the known ones otherwise)."""
    if name in (None, "all"):
        return spaces
    chosen = [s for s in spaces if s.name == name]
    if not chosen:
        known = ", ".join(s.name for s in spaces) or "none"
        raise ValueError(f"no Space folder named {name!r} (known: {known})")
    return chosen


def _git_visible(folder: Path) -> list[str] | None:
    """Files git would commit under `folder` (tracked, or untracked and not ignored).

    None when `folder` is not in a git work tree.
    """
    proc = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
        cwd=folder,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        return None
    names = [n for n in proc.stdout.decode().split("\0") if n]
    return sorted({n for n in names if (folder / n).is_file()})


def _gitignore_patterns(folder: Path) -> list[str]:
    """The plain patterns of the folder's own .gitignore (negations are not supported)."""
    ignore = folder / ".gitignore"
    if not ignore.is_file():
        return []
    lines = (line.strip() for line in ignore.read_text().splitlines())
    return [line for line in lines if line and not line.startswith(("#", "!"))]


def _matches_gitignore(rel: str, pattern: str) -> bool:
    """A small subset of gitignore matching: enough for `model/`, `*.log`, `/build` and the like."""
    parts = rel.split("/")
    dir_only = pattern.endswith("/")
    pattern = pattern.strip("/")
    candidates = parts[:-1] if dir_only else parts
    if "/" in pattern:
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(candidates))]
        return any(fnmatch.fnmatchcase(p, pattern) for p in prefixes)
    return any(fnmatch.fnmatchcase(part, pattern) for part in candidates)


def all_files(folder: Path) -> list[str]:
    """Every file on disk under `folder` (relative, posix), skipping .git."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            found.append((Path(root) / name).relative_to(folder).as_posix())
    return sorted(found)


def source_files(folder: Path) -> list[str]:
    """The folder's files as git sees them; a folder outside git honours its own .gitignore."""
    visible = _git_visible(folder)
    if visible is not None:
        return visible
    patterns = _gitignore_patterns(folder)
    return [f for f in all_files(folder) if not any(_matches_gitignore(f, p) for p in patterns)]


def is_dev_only(rel: str) -> bool:
    """True for tests, caches, logs and build outputs that a Space must not receive."""
    parts = rel.split("/")
    if any(part in DEV_ONLY_DIRS for part in parts[:-1]):
        return True
    if len(parts) > 1 and parts[0] in DEV_ONLY_TOP_DIRS:
        return True
    return any(fnmatch.fnmatchcase(parts[-1], pattern) for pattern in DEV_ONLY_FILES)


def upload_files(folder: Path) -> list[str]:
    """The files that make up the Space on the Hub."""
    return [f for f in source_files(folder) if not is_dev_only(f)]
