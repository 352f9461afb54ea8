"""The "Deploy your own copy" section: its commands run, its variable names are real settings."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hub_standin import HubState, clean_env, running_hub
from pydantic import AliasChoices

REPO = Path(__file__).resolve().parents[2]
SPACES = REPO / "spaces"
HEADING = "## Deploy your own copy"
PLATFORM_NAMES = {"HF_TOKEN"}  # read by huggingface_hub itself, not by a Space's settings


def section() -> str:
    """The section of README.md."""
    text = (REPO / "README.md").read_text()
    assert HEADING in text, f"no {HEADING!r} section in README.md"
    body = text.split(HEADING, 1)[1]
    return HEADING + re.split(r"\n## ", body, maxsplit=1)[0]


def doc_commands() -> list[str]:
    """The `python scripts/spaces.py ...` lines of the section's bash blocks, comments removed."""
    blocks = re.findall(r"```bash\n(.*?)```", section(), flags=re.DOTALL)
    lines = [line.split(" #", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("python scripts/spaces.py")]


def offline(command: str) -> bool:
    """Commands that need no Hub: list, validate and a dry-run deploy."""
    if " status" in command or " logs " in command:
        return False
    return " deploy " not in command or "--dry-run" in command


def watching(command: str) -> bool:
    """`status` and `logs`: they read the Hub."""
    return " status" in command or " logs " in command


def test_section_cites_the_spaces_overview_on_plans() -> None:
    text = section()
    assert "https://huggingface.co/docs/hub/spaces-overview" in text
    assert "Static Spaces are free" in text
    assert "require a paid plan to create" in text
    for name in ("HF_TOKEN", "HF_OWNER", "Duplicate this Space"):
        assert name in text


@pytest.mark.parametrize("command", [c for c in doc_commands() if offline(c)])
def test_documented_command_runs_as_written(command: str) -> None:
    """Run the README's command as a new user would, with `python` being the dev venv's."""
    folders = {p.name for p in SPACES.iterdir()}
    for word in command.split():
        if word in folders and not (SPACES / word / "README.md").is_file():
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"the README names spaces/{word}, which has no README.md")
            pytest.skip(f"spaces/{word} is not complete yet (no README.md)")
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    result = subprocess.run(
        command, shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if " list" in command or "--dry-run" in command:
        json.loads(result.stdout)


def test_the_section_documents_keyless_deploys_settings_status_and_logs() -> None:
    text = section()
    for phrase in (
        "https://huggingface.co/docs/hub/trusted-publishers",
        "id-token: write",
        "HF_OIDC_RESOURCE=spaces/<owner>/<space>",
        "Only a token can create a Space",
        "space-settings.yaml",
        "python scripts/spaces.py status",
        "python scripts/spaces.py logs",
        "https://huggingface.co/docs/hub/spaces-dev-mode",
    ):
        assert phrase in text, phrase


@pytest.mark.parametrize("command", [c for c in doc_commands() if watching(c)])
def test_documented_status_and_logs_run_against_the_stand_in_hub(command: str) -> None:
    """Every Space deployed under the README's owner ("you") on a stand-in Hub."""
    owner = command.split("--owner ", 1)[1].split()[0]
    names = {p.name for p in SPACES.iterdir() if (p / "README.md").is_file()}
    state = HubState(["RUNNING"], spaces={f"{owner}/{name}" for name in names})
    with running_hub(state) as endpoint:
        env = clean_env(HF_ENDPOINT=endpoint)
        env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
        result = subprocess.run(
            command, shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 0, result.stdout + result.stderr
    if " status" in command:
        assert all(name in result.stdout for name in names)
        assert "RUNNING" in result.stdout
    else:
        assert "pip install failed" in result.stdout  # the stand-in's log lines


def settings_env_names(space: Path) -> set[str]:
    """The environment variable names a Space's pydantic-settings class reads (for a static
    Space, the Space variables its page reads from `window.huggingface.variables`)."""
    if (space / "index.html").is_file() and not list(space.glob("*_app")):
        text = "".join(p.read_text() for p in space.glob("*.js"))
        return set(re.findall(r"huggingface\?*\.variables\?*\.([A-Z][A-Z0-9_]+)", text))
    (settings_file,) = space.glob("*_app/settings.py")
    module = importlib.import_module(f"{settings_file.parent.name}.settings")
    settings = module.Settings
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):  # several names, e.g. RAG_API_KEY and API_KEY
            names.update(str(choice).upper() for choice in alias.choices)
            continue
        names.add((alias if isinstance(alias, str) else f"{prefix}{name}").upper())
    return names


def table_rows() -> dict[str, set[str]]:
    """Space name -> the variable and secret names its row of the table mentions."""
    rows = {}
    for line in section().splitlines():
        match = re.match(r"\| `([a-z0-9-]+)` \|(.*)", line)
        if match:
            rows[match.group(1)] = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", match.group(2)))
    return rows


def test_every_space_folder_has_a_row_in_the_table() -> None:
    rows = table_rows()
    for folder in SPACES.iterdir():
        if (folder / "README.md").is_file():
            assert folder.name in rows, f"spaces/{folder.name} is missing from the table"


@pytest.mark.parametrize("name", sorted(table_rows()))
def test_documented_variables_are_real_settings(name: str) -> None:
    folder = SPACES / name
    assert folder.is_dir(), f"the table names spaces/{name}, which does not exist"
    unknown = table_rows()[name] - settings_env_names(folder) - PLATFORM_NAMES
    assert not unknown, f"{name}: documented but not read by its settings: {sorted(unknown)}"
