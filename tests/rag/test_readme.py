"""The Space card: front matter the Hub needs, and every setting documented in its table."""

from __future__ import annotations

import settings_table
from conftest import SPACES
from huggingface_hub import RepoCard

from rag_app.settings import Settings

SPACE = SPACES / "rag-docker"
README = (SPACE / "README.md").read_text()


def test_front_matter_is_a_docker_space_on_7860() -> None:
    card = RepoCard.load(SPACE / "README.md", repo_type="space").data
    assert card.sdk == "docker"
    assert card.app_port == 7860
    assert f"EXPOSE {card.app_port}" in (SPACE / "Dockerfile").read_text()
    assert 0 < len(card.short_description) <= 60


def test_the_settings_table_is_the_settings_class() -> None:
    """Every setting has its row with its default, and every row is a setting."""
    settings_table.check(README, Settings)
