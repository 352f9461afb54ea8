"""Every setting of the Iris Space, read from environment variables (Space variables)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from iris_app.legacy_env import LegacyEnv
from iris_app.security import check_limits

SPACE_DIR = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Read once at start-up; a Space sets these as variables."""

    model_config = SettingsConfigDict(env_prefix="IRIS_", extra="ignore", populate_by_name=True)

    model_path: Path = Field(
        SPACE_DIR / "artifacts" / "model.joblib",
        description="The joblib file written by `python -m iris_app.train`.",
    )
    metadata_path: Path = Field(
        SPACE_DIR / "artifacts" / "metadata.json",
        description="The model's metadata (features, classes, metrics, version).",
    )
    max_body_bytes: int = Field(
        256 * 1024, ge=1024, description="Largest request body accepted; larger gets 413."
    )
    max_batch: int = Field(
        64, ge=1, le=1000, description="Most concurrent /predict requests served by one model call."
    )
    host: str = Field("0.0.0.0", description="Interface uvicorn binds to.")
    port: int = Field(
        7860, ge=1, le=65535, description="Port uvicorn listens on (PORT: deprecated, still read)."
    )
    metrics: bool = Field(True, description="Expose Prometheus metrics at /metrics.")
    shutdown_timeout_s: float = Field(
        8.0, gt=0, le=60, description="On SIGTERM, how long requests in flight may finish."
    )
    api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("IRIS_API_KEY", "API_KEY"),
        description="API key(s), comma-separated (a Space secret; API_KEY also works). Set: every "
        "API route but /health, /ready and the docs needs one. Unset: the API is open.",
    )
    rate_limit: str = Field(
        "120/minute",
        description="Requests per client to each API route, e.g. 60/minute or 5/second;100/hour "
        "(none: no limit).",
    )
    rate_limits: dict[str, str] = Field(
        {"/predict/batch": "30/minute"},
        description='Limits of single routes, replacing `rate_limit`: JSON {"/route": "limit"}.',
    )
    trusted_proxies: int = Field(
        default_factory=lambda: 1 if os.environ.get("SPACE_ID") else 0,
        ge=0,
        le=5,
        description="Proxies in front of the app whose X-Forwarded-For is trusted to name the "
        "client (default 1 on a Space, where SPACE_ID is set); 0: the peer address is the client.",
    )

    @field_validator("rate_limit", "rate_limits")
    @classmethod
    def _limits_parse(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        check_limits(value)  # a typo stops the Space at start-up, naming the value
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The prefixed names first; PORT only when IRIS_PORT is unset (with a warning)."""
        legacy = LegacyEnv(settings_cls, {"port": "PORT"}, "IRIS_")
        return init_settings, env_settings, dotenv_settings, file_secret_settings, legacy


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
