"""The static Spaces: proper Space cards, npm packages pinned and locked, nothing from a CDN."""

from __future__ import annotations

import json
import re

import pytest
from conftest import CHROMIUM_ARGS, SPACES

from bench.browser import CHROMIUM_ARGS as BENCH_CHROMIUM_ARGS
from scripts.space_folder import discover

STATIC = [s for s in discover(SPACES) if s.sdk == "static"]


def test_both_twins_are_static_spaces() -> None:
    assert {s.name for s in STATIC} >= {"iris-static", "sentiment-static"}


@pytest.mark.parametrize("space", STATIC, ids=lambda s: s.name)
def test_card_is_a_proper_space_card(space) -> None:
    card = space.card
    for key in ("title", "emoji", "colorFrom", "colorTo", "license", "short_description"):
        assert card.get(key), f"{space.name}: no {key}"
    assert card["app_file"] == "index.html"
    assert len(card["short_description"]) <= 60
    assert card["app_build_command"].startswith("npm ci --ignore-scripts && npm run build")


@pytest.mark.parametrize("space", STATIC, ids=lambda s: s.name)
def test_the_page_loads_code_from_its_own_folder_only(space) -> None:
    """Scripts, styles and modules are relative paths: no CDN at run time."""
    html = (space.path / "index.html").read_text()
    module = (space.path / "app.js").read_text()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r'from "([^"]+)"', module)
    assert sources, space.name
    loaded = [s for s in sources if not s.startswith("#")]
    assert all(s.startswith(("./", "app.js", "style.css")) for s in loaded), loaded
    assert "wasmPaths" in module
    urls = re.findall(r"https?://[^\s\"'`]+", module)
    assert all(u.startswith("http://www.w3.org/") for u in urls), urls  # XML namespaces only


@pytest.mark.parametrize("space", STATIC, ids=lambda s: s.name)
def test_npm_packages_are_pinned_and_locked(space) -> None:
    package = json.loads((space.path / "package.json").read_text())
    lock = json.loads((space.path / "package-lock.json").read_text())["packages"]
    for name, version in package["dependencies"].items():
        assert lock[f"node_modules/{name}"]["version"] == version
    assert (space.path / ".npmrc").read_text().count("ignore-scripts=true") == 1
    assert {"node_modules/", "vendor/"} <= set((space.path / ".gitignore").read_text().split())


def test_versions_the_issue_names() -> None:
    iris = json.loads((SPACES / "iris-static" / "package-lock.json").read_text())["packages"]
    assert iris["node_modules/onnxruntime-web"]["version"] == "1.30.0"
    lock = json.loads((SPACES / "sentiment-static" / "package-lock.json").read_text())["packages"]
    transformers = lock["node_modules/@huggingface/transformers"]
    assert transformers["version"] == "4.3.2"
    # The WASM the page serves must be the onnxruntime-web build transformers.js was made for.
    wanted = transformers["dependencies"]["onnxruntime-web"]
    assert lock["node_modules/onnxruntime-web"]["version"] == wanted


def test_benchmark_launches_chromium_as_the_tests_do() -> None:
    assert BENCH_CHROMIUM_ARGS == CHROMIUM_ARGS
