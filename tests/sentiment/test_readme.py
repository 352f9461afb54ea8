"""The Space card: front matter the Hub needs, every setting documented, its curl example works."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess

import pytest
import settings_table
from conftest import SPACES
from huggingface_hub import RepoCard

from sentiment_app.settings import Settings

SPACE = SPACES / "sentiment-streamlit"
README = (SPACE / "README.md").read_text()


def test_front_matter_is_a_docker_space_on_8501() -> None:
    card = RepoCard.load(SPACE / "README.md", repo_type="space").data
    assert card.sdk == "docker"
    assert card.app_port == 8501
    assert f"EXPOSE {card.app_port}" in (SPACE / "Dockerfile").read_text()
    assert card.title
    assert card.emoji
    assert card.license
    assert 0 < len(card.short_description) <= 60


def test_the_settings_table_is_the_settings_class() -> None:
    """Every setting has its row with its default, and every row is a setting."""
    settings_table.check(README, Settings)


@pytest.mark.slow
def test_readme_curl_example_answers(api_server: str) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    line = next(x for x in README.splitlines() if x.startswith("curl "))
    command = re.sub(r"localhost:8000", api_server.removeprefix("http://"), line)
    out = subprocess.run(shlex.split(command), capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["label"] == "POSITIVE"
