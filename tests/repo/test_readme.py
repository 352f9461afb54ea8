"""The root README stays true: its make targets exist, its settings are real env vars."""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

import pytest
from pydantic import AliasChoices

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
SETTINGS_MODULES = ("iris_app.settings", "sentiment_app.settings", "rag_app.settings")


def env_names() -> set[str]:
    """Every environment variable that some Space's settings class reads."""
    names = set()
    for module_name in SETTINGS_MODULES:
        settings = importlib.import_module(module_name).Settings
        prefix = settings.model_config.get("env_prefix", "")
        for name, field in settings.model_fields.items():
            alias = field.validation_alias
            if isinstance(alias, str):
                names.add(alias)
            elif isinstance(alias, AliasChoices):
                names.update(str(choice) for choice in alias.choices)
            else:
                names.add(f"{prefix}{name}".upper())
    return names


def test_the_two_commands_come_first() -> None:
    first_block = README.split("```", 2)[1]
    assert "make run" in first_block
    assert "make test" in first_block


@pytest.mark.parametrize("target", sorted(set(re.findall(r"`make ([a-z-]+)", README))))
def test_every_make_target_in_the_readme_exists(target: str) -> None:
    dry = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True)
    assert "No rule to make target" not in dry.stderr, dry.stderr


def test_every_setting_in_the_readme_is_read_by_a_space() -> None:
    settings_table = README.split("## Settings", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([A-Z][A-Z0-9_]{2,})`", settings_table))
    assert named, "the settings table names no variable"
    assert named <= env_names(), named - env_names()
