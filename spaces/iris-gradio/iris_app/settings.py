"""Every setting of the Iris Space, read from environment variables (Space variables)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SPACE_DIR = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Read once at start-up; a Space sets these as variables."""

    model_config = SettingsConfigDict(env_prefix="IRIS_", extra="ignore")

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
        7860, validation_alias="PORT", description="Port (PORT, as Spaces and most hosts set it)."
    )
    metrics: bool = Field(True, description="Expose Prometheus metrics at /metrics.")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
