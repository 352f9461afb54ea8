"""The Space card: front matter the Hub needs, and every setting documented in its table."""

from __future__ import annotations

from conftest import SPACES
from huggingface_hub import RepoCard
from pydantic import AliasChoices

from rag_app.settings import Settings

SPACE = SPACES / "rag-docker"
README = (SPACE / "README.md").read_text()


def test_front_matter_is_a_docker_space_on_7860() -> None:
    card = RepoCard.load(SPACE / "README.md", repo_type="space").data
    assert card.sdk == "docker"
    assert card.app_port == 7860
    assert f"EXPOSE {card.app_port}" in (SPACE / "Dockerfile").read_text()
    assert 0 < len(card.short_description) <= 60


def test_every_setting_is_in_the_settings_table() -> None:
    table = README[README.index("## Settings") : README.index("## Image")]
    prefix = Settings.model_config["env_prefix"]
    for name, field in Settings.model_fields.items():
        assert field.description, name
        alias = field.validation_alias
        env = alias.choices[0] if isinstance(alias, AliasChoices) else alias or f"{prefix}{name}"
        env = str(env).upper()
        assert f"`{env}`" in table, f"{env} missing from the settings table"
