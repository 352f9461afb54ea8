"""Every setting of the Space, read from environment variables (Space variables and secrets)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sentiment_app.security import check_limits

HERE = Path(__file__).resolve().parent
HUB_DEFAULT = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
LOCAL_MODEL = HERE.parent / "model"


class Settings(BaseSettings):
    """Configuration of the model, the API and the demo."""

    model_config = SettingsConfigDict(
        env_prefix="SENTIMENT_", extra="ignore", populate_by_name=True
    )

    model: str = Field(
        HUB_DEFAULT,
        description="Hub model id or local directory of a transformers sequence classifier.",
    )
    fallback_model: Path = Field(
        LOCAL_MODEL,
        description="Local model directory used when `model` cannot be loaded (no Hub access).",
    )
    max_tokens: int = Field(
        256, ge=16, le=512, description="Tokens per text; longer texts keep their head and tail."
    )
    head_tokens: int = Field(
        64, ge=0, description="Of `max_tokens`, how many come from the start of a long text."
    )
    backend: Literal["onnx", "torch"] = Field(
        "onnx",
        description="What runs the model: ONNX Runtime (exported once, ~2x faster) or PyTorch.",
    )
    quantize: bool = Field(
        False,
        description="int8 dynamic quantization: faster on CPU. ONNX gives fp32's label on 98-99% "
        "of held-out texts (-0.5 point on SST-2); torch (every Linear layer) ~1 point less.",
    )
    threads: int = Field(1, ge=1, le=64, description="CPU threads of each forward pass.")
    workers: int = Field(
        2, ge=1, le=64, description="Forward passes run at once: vCPUs / `threads`."
    )
    pass_size: int = Field(
        8, ge=1, le=256, description="Texts per forward pass, grouped by length (less padding)."
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "sentiment_app",
        description="Where ONNX exports of models that ship none are kept.",
    )
    max_batch: int = Field(32, ge=1, le=256, description="Most requests in one micro-batch.")
    batch_wait_ms: float = Field(
        5.0, ge=0, le=1000, description="Under load, how long a batch waits for more requests."
    )
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Largest request body (413 above).")
    max_upload_mb: int = Field(5, ge=1, description="Largest CSV the demo accepts, in MB.")
    host: str = Field("0.0.0.0", description="Interface the API and the demo bind to.")
    port: int = Field(
        8000,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("SENTIMENT_PORT", "PORT"),
        description="Port of the API (`api`); PORT, which container platforms set, also works.",
    )
    ui_port: int = Field(8501, ge=1, le=65535, description="Port of the demo (`ui`, app_port).")
    shutdown_timeout_s: float = Field(
        8.0, gt=0, le=60, description="On SIGTERM, how long requests in flight may finish."
    )
    api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SENTIMENT_API_KEY", "API_KEY"),
        description="API key(s), comma-separated (a Space secret; API_KEY also works). Set: every "
        "API route but /health, /ready and the docs needs one. Unset: the API is open.",
    )
    rate_limit: str = Field(
        "120/minute",
        description="Requests per client to each API route, e.g. 60/minute or 5/second;100/hour "
        "(none: no limit).",
    )
    rate_limits: dict[str, str] = Field(
        {"/sentiment/batch": "30/minute"},
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


@lru_cache
def get_settings() -> Settings:
    """The settings, read once."""
    return Settings()
