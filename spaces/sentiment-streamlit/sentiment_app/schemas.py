"""Request and response bodies of the sentiment API (and of its MCP tool)."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sentiment_app.security import documented_errors

MAX_TEXTS = 256
VISIBLE = "LNPS"  # Unicode categories: letters, numbers, punctuation, symbols


def _check_text(text: str) -> str:
    """Valid Unicode with something to read: a letter, digit, punctuation mark or symbol (emoji
    count); blank text, or text made only of control or invisible format characters, does not."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (it contains a lone surrogate)") from None
    if not any(unicodedata.category(c)[0] in VISIBLE for c in text):
        raise ValueError(
            "text must contain at least one non-whitespace character: a letter, digit, "
            "punctuation mark or symbol (control and invisible characters do not count)"
        )
    return text


Text = Annotated[str, AfterValidator(_check_text)]


class TextIn(BaseModel):
    """One text to classify; longer than the model's window is fine (head and tail are kept)."""

    model_config = ConfigDict(extra="forbid")

    text: Text = Field(examples=["A charming, funny and moving film."])


class TextsIn(BaseModel):
    """Up to 256 texts to classify."""

    model_config = ConfigDict(extra="forbid")

    texts: list[Text] = Field(min_length=1, max_length=MAX_TEXTS, examples=[["Great!", "Awful."]])


class SentimentOut(BaseModel):
    """The label and the model's probability for it."""

    label: Literal["POSITIVE", "NEGATIVE"]
    score: float = Field(ge=0, le=1)


class BatchOut(BaseModel):
    """One result per input text, in the same order."""

    results: list[SentimentOut]


class ModelOut(BaseModel):
    """Which model answers and what runs it, its label names and measured accuracy (if known)."""

    model: str
    backend: str
    labels: dict[int, str]
    max_tokens: int
    metrics: dict[str, Any] | None


class HealthOut(BaseModel):
    """Liveness: the process is up."""

    status: Literal["ok"]


class ReadyOut(BaseModel):
    """Readiness: the model is loaded; which one, and what runs it."""

    status: Literal["ready"]
    model: str
    backend: str


ERROR_MEANINGS = {
    400: "The body is not parseable JSON (malformed, not UTF-8, or nested too deep).",
    401: "No API key, or not a valid one (only when the Space has an API key set).",
    413: "The request body is larger than the limit.",
    422: "Invalid request: the message names each bad field.",
    429: "Too many requests from this client; retry after Retry-After seconds.",
    503: "Not ready: the model is still loading.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with the one error body."""
    return documented_errors(ERROR_MEANINGS, *codes)


# What an API route may refuse with (routes with a body add 400, 413 and 422).
API_ERRORS = error_responses(401, 429, 503)
BODY_ERRORS = error_responses(400, 401, 413, 422, 429, 503)
