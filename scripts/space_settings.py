"""A Space's `space-settings.yaml`: what it needs from the Hub (hardware, sleep time, variables,
names of required secrets), read and checked here; `space_apply` compares it with the Hub."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import SpaceHardware

from scripts.space_dockerfile import build_args
from scripts.space_folder import SpaceFolder, upload_files

SETTINGS_FILE = "space-settings.yaml"
KEYS = ("hardware", "sleep_time", "variables", "secrets")
FREE_HARDWARE = "cpu-basic"  # sleeps after 48 h without visitors; not configurable
HARDWARE = tuple(h.value for h in SpaceHardware)
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
PLATFORM_NAMES = {"HF_TOKEN"}  # read by huggingface_hub inside the Space
JS_VARIABLE = re.compile(r"variables\??\.([A-Z_][A-Z0-9_]*)|variables\[[\"']([A-Z_][A-Z0-9_]*)")


@dataclass
class SpaceSettings:
    """The declared settings; an absent key means "leave it as it is on the Hub"."""

    hardware: str | None = None
    sleep_time: int | None = None
    variables: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for --dry-run."""
        return {
            "hardware": self.hardware,
            "sleep_time": self.sleep_time,
            "variables": self.variables,
            "secrets": self.secrets,
        }


def _scalar(value: Any) -> str | None:
    """A YAML scalar as the string a Space variable holds (`true` -> "true"), None otherwise."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _variables(raw: Any, problems: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """NAME: value, or NAME: {value: ..., description: ...}."""
    values: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    if not isinstance(raw, dict):
        problems.append("`variables` is not a mapping of NAME: value")
        return values, descriptions
    for name, spec in raw.items():
        if isinstance(spec, dict):
            value, description = _scalar(spec.get("value")), spec.get("description")
            if description is not None:
                descriptions[str(name)] = str(description)
        else:
            value = _scalar(spec)
        if value is None:
            problems.append(f"variable {name} has no value (a string, number or boolean)")
        else:
            values[str(name)] = value
    return values, descriptions


def parse_settings(text: str) -> tuple[SpaceSettings, list[str]]:
    """The settings of a file's text, and the problems of its form."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        return SpaceSettings(), [f"does not parse as YAML: {' '.join(str(exc).split())}"]
    if not isinstance(raw, dict):
        return SpaceSettings(), ["is not a mapping (hardware, sleep_time, variables, secrets)"]
    problems = [f"unknown key {key!r} (known: {', '.join(KEYS)})" for key in raw if key not in KEYS]
    settings = SpaceSettings()
    if raw.get("hardware") is not None:
        settings.hardware = str(raw["hardware"])
    sleep = raw.get("sleep_time")
    if sleep is not None and (isinstance(sleep, bool) or not isinstance(sleep, int)):
        problems.append(f"`sleep_time` {sleep!r} is not a whole number of seconds")
    elif sleep is not None:
        settings.sleep_time = sleep
    settings.variables, settings.descriptions = _variables(raw.get("variables") or {}, problems)
    secrets = raw.get("secrets") or []
    if isinstance(secrets, dict) or not isinstance(secrets, list):
        problems.append("`secrets` lists names only: their values are set on the Hub, never here")
    else:
        settings.secrets = [str(name) for name in secrets]
    return settings, problems


def read_settings(folder: Path) -> tuple[SpaceSettings | None, list[str]]:
    """The folder's settings (None without the file) and the problems of its form."""
    path = folder / SETTINGS_FILE
    if not path.is_file():
        return None, []
    return parse_settings(path.read_text())


# --- the names a Space reads -------------------------------------------------------------------


def _settings_class_names(node: ast.ClassDef) -> set[str]:
    """Env names of a pydantic-settings class: env_prefix + field, or a field's alias."""
    prefix, names = "", set()
    for item in node.body:
        if isinstance(item, ast.Assign | ast.AnnAssign) and isinstance(item.value, ast.Call):
            for keyword in item.value.keywords:
                if keyword.arg == "env_prefix" and isinstance(keyword.value, ast.Constant):
                    prefix = str(keyword.value.value)
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            alias = None
            if isinstance(item.value, ast.Call):
                for keyword in item.value.keywords:
                    named = keyword.arg in ("validation_alias", "alias")
                    if named and isinstance(keyword.value, ast.Constant):
                        alias = str(keyword.value.value)
            if item.target.id != "model_config":
                names.add((alias or f"{prefix}{item.target.id}").upper())
    return names


ENV_GETTERS = ("os.environ.get", "os.getenv", "environ.get", "getenv")


def _literal(node: ast.expr) -> str | None:
    """The value of a string literal, else None."""
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _python_names(tree: ast.AST) -> set[str]:
    """os.environ["X"], os.environ.get("X"), os.getenv("X") and pydantic-settings classes."""
    names: set[str | None] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            if any(ast.unparse(base).endswith("BaseSettings") for base in node.bases):
                names |= _settings_class_names(node)
        elif isinstance(node, ast.Call) and node.args and ast.unparse(node.func) in ENV_GETTERS:
            names.add(_literal(node.args[0]))
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("environ"):
            names.add(_literal(node.slice))
    return {name for name in names if name}


def names_read(space: SpaceFolder) -> set[str]:
    """Environment names the Space reads: its Python, its Dockerfile's ARGs (Space variables are
    build arguments of a Docker Space), its page's `window.huggingface.variables`."""
    names = set(PLATFORM_NAMES)
    for rel in upload_files(space.path):
        path = space.path / rel
        if rel.endswith(".py"):
            try:
                names |= _python_names(ast.parse(path.read_text()))
            except (SyntaxError, UnicodeDecodeError):
                continue
        elif rel.endswith((".js", ".mjs", ".html")) and not rel.startswith("vendor/"):
            names |= {a or b for a, b in JS_VARIABLE.findall(path.read_text(errors="replace"))}
        elif rel == "Dockerfile":
            names |= set(build_args(path.read_text()))
    return names


# --- validate ----------------------------------------------------------------------------------


def _meaning_problems(space: SpaceFolder, settings: SpaceSettings) -> list[str]:
    """Hardware the Hub knows, a sleep time it accepts, names the Space really reads."""
    problems = []
    static = space.sdk == "static"
    if settings.hardware is not None and settings.hardware not in HARDWARE:
        problems.append(f"hardware {settings.hardware!r} is not a Space hardware flavor")
    if static and (settings.hardware or settings.sleep_time is not None):
        problems.append("a static Space runs on no hardware: drop `hardware` and `sleep_time`")
    elif settings.sleep_time is not None:
        if (settings.hardware or FREE_HARDWARE) == FREE_HARDWARE:
            problems.append("`sleep_time` needs upgraded hardware (cpu-basic sleeps after 48 h)")
        elif settings.sleep_time != -1 and settings.sleep_time <= 0:
            problems.append("`sleep_time` is seconds before sleeping, or -1 for never")
    if static and settings.secrets:
        problems.append("a static Space cannot keep a secret: everything its page reads is public")
    known = names_read(space)
    for kind, names in (("variable", settings.variables), ("secret", settings.secrets)):
        for name in names:
            if not ENV_NAME.match(name):
                problems.append(f"{kind} name {name!r} is not an environment variable name")
            elif name not in known:
                problems.append(f"{kind} {name} is read nowhere in the Space")
    for name in set(settings.variables) & set(settings.secrets):
        problems.append(f"{name} is both a variable and a secret")
    return problems


def check_space_settings(space: SpaceFolder) -> list[str]:
    """The optional space-settings.yaml parses and declares what the Space can use."""
    settings, problems = read_settings(space.path)
    if settings is not None:
        problems += _meaning_problems(space, settings)
        if SETTINGS_FILE not in upload_files(space.path):
            problems.append("is ignored, so it would not be uploaded with the Space")
    return [f"{SETTINGS_FILE}: {problem}" for problem in problems]
