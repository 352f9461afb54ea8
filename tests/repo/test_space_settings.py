"""space-settings.yaml: what `validate` accepts and refuses, the names a Space reads, and the real
Spaces' files (their variables hold the Spaces' own defaults, their secrets are names only)."""

from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path

import pytest

from scripts.space_checks import validate
from scripts.space_dockerfile import build_args
from scripts.space_folder import discover, load_space, upload_files
from scripts.space_settings import SETTINGS_FILE, names_read, read_settings

REPO = Path(__file__).resolve().parents[2]
SPACES = REPO / "spaces"
FIXTURES = Path(__file__).parent / "fixtures"
REAL = [s.name for s in discover(SPACES)]

# (fixture, file text, the one problem validate reports)
REFUSED = [
    ("good-docker", "hardware: cpu-basic\nsleep_time: 600\n", "needs upgraded hardware"),
    ("good-docker", "hardware: cpu-upgrade\nsleep_time: 0\n", "or -1 for never"),
    ("good-docker", "sleep_time: soon\n", "is not a whole number of seconds"),
    ("good-docker", "flavor: t4-small\n", "unknown key 'flavor'"),
    ("good-docker", "variables: [GREETING]\n", "`variables` is not a mapping"),
    ("good-docker", "variables: {GREETING: null}\n", "variable GREETING has no value"),
    ("good-docker", "variables: {greeting: hi}\n", "'greeting' is not an environment variable"),
    ("good-docker", "variables: {GREETING: a}\nsecrets: [GREETING]\n", "both a variable and"),
    ("good-docker", "secrets: [NOT_READ]\n", "secret NOT_READ is read nowhere"),
    ("good-docker", "secrets: {GOOD_API_KEY: abc}\n", "names only"),
    ("good-docker", "hardware: [a\n", "does not parse as YAML"),
    ("good-docker", "- hardware\n", "is not a mapping"),
    ("good-static", "hardware: cpu-basic\n", "a static Space runs on no hardware"),
    ("good-static", "secrets: [HF_TOKEN]\n", "a static Space cannot keep a secret"),
]


def with_settings(tmp_path: Path, fixture: str, text: str) -> Path:
    """A copy of a good fixture (outside git) with `text` as its settings file."""
    folder = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, folder)
    (folder / SETTINGS_FILE).write_text(text)
    return folder


@pytest.mark.parametrize(("fixture", "text", "problem"), REFUSED)
def test_validate_refuses(tmp_path: Path, fixture: str, text: str, problem: str) -> None:
    (found,) = validate(load_space(with_settings(tmp_path, fixture, text)))
    assert found.startswith(f"{SETTINGS_FILE}: ")
    assert problem in found


def test_validate_accepts_never_sleeping_upgraded_hardware_and_no_file(tmp_path: Path) -> None:
    text = "hardware: cpu-upgrade\nsleep_time: -1\nvariables: {GREETING: true}\n"
    folder = with_settings(tmp_path, "good-docker", text)
    assert validate(load_space(folder)) == []
    assert read_settings(folder)[0].variables == {"GREETING": "true"}  # as the Hub stores it
    (folder / SETTINGS_FILE).unlink()
    assert validate(load_space(folder)) == []  # the file is optional
    assert read_settings(folder) == (None, [])


def test_an_ignored_settings_file_is_refused(tmp_path: Path) -> None:
    folder = with_settings(tmp_path, "good-docker", "hardware: cpu-basic\n")
    with (folder / ".gitignore").open("a") as out:
        out.write(f"{SETTINGS_FILE}\n")
    assert validate(load_space(folder)) == [
        f"{SETTINGS_FILE}: is ignored, so it would not be uploaded with the Space"
    ]


def test_names_read_follow_pydantic_settings_os_environ_dockerfile_and_page(tmp_path: Path) -> None:
    folder = tmp_path / "space"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "settings.py").write_text(
        "import os\n"
        "from pydantic import Field\n"
        "from pydantic_settings import BaseSettings, SettingsConfigDict\n"
        "class Settings(BaseSettings):\n"
        "    model_config = SettingsConfigDict(env_prefix='APP_')\n"
        "    model_name: str = 'x'\n"
        "    port: int = Field(7860, validation_alias='PORT')\n"
        "TOKEN = os.environ['API_TOKEN']\n"
        "MODE = os.getenv('RUN_MODE', 'a')\n"
    )
    (folder / "Dockerfile").write_text("FROM python:3.11-slim\nARG MODEL_REPO=org/model\n")
    (folder / "app.js").write_text("const m = window.huggingface?.variables?.PAGE_MODEL ?? 'x';\n")
    (folder / "README.md").write_text("---\ntitle: T\nsdk: docker\n---\n")
    names = names_read(load_space(folder))
    expected = {"APP_MODEL_NAME", "PORT", "API_TOKEN", "RUN_MODE", "MODEL_REPO", "PAGE_MODEL"}
    assert names == expected | {"HF_TOKEN"}


# --- the real Spaces ---------------------------------------------------------------------------


def default_of(space: Path, name: str, monkeypatch: pytest.MonkeyPatch, value: str) -> bool:
    """True when `value` is what the Space uses for `name` anyway: the Dockerfile's ARG default,
    the page's fallback, or (set or not) the same parsed settings."""
    dockerfile = space / "Dockerfile"
    args = build_args(dockerfile.read_text()) if dockerfile.is_file() else {}
    if args.get(name):
        return args[name] == value
    if not list(space.glob("*_app/settings.py")):  # a static page: `variables?.NAME ?? "default"`
        text = "".join(p.read_text() for p in space.glob("*.js"))
        fallback = re.search(rf"variables\?\.{name}\s*\?\?\s*\"([^\"]+)\"", text)
        return fallback is not None and fallback.group(1) == value
    (settings_file,) = space.glob("*_app/settings.py")
    settings = importlib.import_module(f"{settings_file.parent.name}.settings").Settings
    monkeypatch.delenv(name, raising=False)
    default = settings().model_dump()
    monkeypatch.setenv(name, value)
    return settings().model_dump() == default


@pytest.mark.parametrize("name", REAL)
def test_each_real_space_declares_its_defaults_and_no_secret_value(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = SPACES / name
    settings, problems = read_settings(folder)
    assert settings is not None, f"spaces/{name} has no {SETTINGS_FILE}"
    assert problems == []
    assert SETTINGS_FILE in upload_files(folder)  # part of the Space repo (it breaks nothing)
    for variable, value in settings.variables.items():
        assert default_of(folder, variable, monkeypatch, value), f"{name}: {variable}={value!r}"
    assert settings.secrets == []  # every Space here works with no secret at all
    if load_space(folder).sdk != "static":
        assert settings.hardware == "cpu-basic"  # what the measured figures ran on
