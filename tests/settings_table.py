"""A Space README's settings table, checked against its pydantic-settings class.

Every setting has a row under its environment variable, every variable in the table is a setting,
and each row's default is the class's (numbers, words, JSON and file names; a computed or secret
default only needs its row).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, SecretStr
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

VARIABLE = re.compile(r"`([A-Z][A-Z0-9_]+)`")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def rows(readme: str) -> list[tuple[list[str], str]]:
    """(variables, default cell) of each row of the table under `## Settings`."""
    section = readme.split("\n## Settings", 1)[1].split("\n## ", 1)[0]
    found = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            found.append((VARIABLE.findall(cells[0]), cells[1]))
    return found


def variables(settings: type[BaseSettings]) -> dict[str, list[str]]:
    """Each field's environment variables, the prefixed name first."""
    prefix = settings.model_config.get("env_prefix", "")
    names = {}
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names[name] = [str(c).upper() for c in alias.choices]
        else:
            names[name] = [str(alias or f"{prefix}{name}").upper()]
    return names


def _shown(default: Any, cell: str) -> bool:
    """Whether a table cell shows this default."""
    if default is None:
        return "unset" in cell or "–" in cell or cell.strip() == "-"
    if isinstance(default, bool):
        return str(default).lower() in cell.lower()
    if isinstance(default, int | float):
        return any(float(n) == float(default) for n in NUMBER.findall(cell))
    if isinstance(default, Path):
        return default.name in cell
    if isinstance(default, dict | list):
        return any(_json(part) == default for part in re.findall(r"`([\[{].*?[\]}])`", cell))
    return str(default) in cell


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def check(readme: str, settings: type[BaseSettings]) -> None:
    """AssertionError naming the first setting, variable or default out of step."""
    table = rows(readme)
    names = variables(settings)
    known = {v for vs in names.values() for v in vs}
    for row_variables, _ in table:
        for variable in row_variables:
            assert variable in known, f"{variable} is in the settings table; no setting reads it"
    cells: dict[str, str] = {}
    for row_variables, default_cell in table:
        parts = [p.strip() for p in default_cell.split(", ")]
        aligned = len(parts) == len(row_variables) > 1
        for n, variable in enumerate(row_variables):
            cells.setdefault(variable, parts[n] if aligned else default_cell)
    for name, field in settings.model_fields.items():
        variable = names[name][0]
        assert field.description, f"{name} has no description"
        assert variable in cells, f"{variable} is missing from the settings table"
        default = field.default
        if default is PydanticUndefined or isinstance(default, SecretStr):
            continue  # computed (default_factory) or secret: the row says what it is
        assert _shown(default, cells[variable]), (
            f"{variable}: the table's default {cells[variable]!r} is not the setting's {default!r}"
        )
