"""Request and response bodies of the sentiment API (and of its MCP tool)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

MAX_TEXTS = 256


def _check_text(text: str) -> str:
    if not text.strip():
        raise ValueError("text must contain at least one non-whitespace character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (it contains a lone surrogate)") from None
    return text


Text = Annotated[str, AfterValidator(_check_text)]


class TextIn(BaseModel):
    """One text to classify; longer than the model's window is fine (head and tail are kept)."""

    text: Text = Field(examples=["A charming, funny and moving film."])


class TextsIn(BaseModel):
    """Up to 256 texts to classify."""

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
