"""Old environment variable names, still read for one release, with a warning naming the new one.

A pydantic-settings source of the lowest priority: a prefixed name (or a value passed in code)
always wins. The module is copied, identical, into each Space that renamed a variable.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

log = logging.getLogger(__name__)


class LegacyEnv(PydanticBaseSettingsSource):
    """Reads `old_names` ({field: OLD_NAME}) from the environment; warns for each one set."""

    def __init__(
        self, settings_cls: type[BaseSettings], old_names: Mapping[str, str], prefix: str
    ) -> None:
        super().__init__(settings_cls)
        self.old_names = old_names
        self.prefix = prefix

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        old = self.old_names.get(field_name)
        return (os.environ.get(old) if old else None), field_name, self.field_is_complex(field)

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, _, complex_ = self.get_field_value(field, name)
            if value is None:
                continue
            new = f"{self.prefix}{name.upper()}"
            if new in os.environ:
                log.warning(
                    "%s is ignored: %s is set (the old name is deprecated)",
                    self.old_names[name],
                    new,
                )
                continue
            log.warning(
                "%s is deprecated and read for this release only: rename it %s",
                self.old_names[name],
                new,
            )
            found[name] = self.decode_complex_value(name, field, value) if complex_ else value
        return found
