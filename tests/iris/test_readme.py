"""The Space card's front matter is what the Hub needs, read with huggingface_hub."""

from __future__ import annotations

from importlib import metadata

import settings_table
from conftest import SPACES
from huggingface_hub import RepoCard

from iris_app.settings import Settings

SPACE = SPACES / "iris-gradio"


def test_front_matter_matches_the_code_and_the_pins() -> None:
    card = RepoCard.load(SPACE / "README.md", repo_type="space").data
    assert card.sdk == "gradio"
    assert card.sdk_version == metadata.version("gradio")
    assert card.python_version == "3.11"
    assert (SPACE / card.app_file).is_file()
    assert card.title
    assert card.emoji
    assert card.license
    assert card.short_description
    assert len(card.short_description) <= 60
    pins = (SPACE / "requirements.txt").read_text().splitlines()
    assert f"gradio[mcp]=={card.sdk_version}" in pins  # the extra serves the MCP tools
    assert f"mcp=={metadata.version('mcp')}" in pins


def test_the_settings_table_is_the_settings_class() -> None:
    """Every setting has its row with its default, and every row is a setting."""
    settings_table.check((SPACE / "README.md").read_text(), Settings)
