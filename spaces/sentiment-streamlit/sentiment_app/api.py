"""The HTTP API: schemas, routes and lifespan; it calls the model through the micro-batcher."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_fastapi_instrumentator import Instrumentator
from pydantic import AfterValidator, BaseModel, Field

from sentiment_app.batching import MicroBatcher
from sentiment_app.http_limits import BodySizeLimit
from sentiment_app.model import Prediction, SentimentModel, load_model
from sentiment_app.settings import get_settings

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
    """Liveness."""

    status: Literal["ok"]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model once, then serve through one micro-batcher."""
    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    model = load_model(settings)
    app.state.model = model
    async with MicroBatcher(model.predict, settings.max_batch, settings.batch_wait_ms) as batcher:
        app.state.batcher = batcher
        yield


def get_model(request: Request) -> SentimentModel:
    """The loaded model."""
    return request.app.state.model


def get_batcher(request: Request) -> MicroBatcher[Prediction]:
    """The micro-batcher in front of the model."""
    return request.app.state.batcher


ModelDep = Annotated[SentimentModel, Depends(get_model)]
BatcherDep = Annotated[MicroBatcher[Prediction], Depends(get_batcher)]

app = FastAPI(
    title="Sentiment API",
    summary="POSITIVE/NEGATIVE sentiment of English text, with dynamic micro-batching.",
    version="1.0.0",
    lifespan=lifespan,
)
app.add_middleware(BodySizeLimit, max_bytes=get_settings().max_body_bytes)
Instrumentator().instrument(app).expose(app, include_in_schema=False)


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    """422 with one readable sentence naming each bad field, plus the errors field by field.

    The input is not echoed back: it may be huge, NaN (which JSON cannot carry) or not encodable.
    """
    assert isinstance(exc, RequestValidationError)
    detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    fields = [".".join(str(p) for p in e["loc"] if p != "body") or "body" for e in detail]
    message = "; ".join(f"{f}: {e['msg']}" for f, e in zip(fields, detail, strict=True))
    return JSONResponse(
        status_code=422, content={"message": f"Invalid request. {message}", "detail": detail}
    )


app.add_exception_handler(RequestValidationError, validation_error)


@app.post("/sentiment", response_model=SentimentOut)
async def sentiment(body: TextIn, batcher: BatcherDep) -> SentimentOut:
    """Classify one text."""
    result = await batcher.predict(body.text)
    return SentimentOut(label=result.label, score=result.score)


@app.post("/sentiment/batch", response_model=BatchOut)
async def sentiment_batch(body: TextsIn, batcher: BatcherDep) -> BatchOut:
    """Classify up to 256 texts; results come back in the same order."""
    results = await batcher.predict_many(body.texts)
    return BatchOut(results=[SentimentOut(label=r.label, score=r.score) for r in results])


@app.get("/health", response_model=HealthOut)
def health() -> HealthOut:
    """200 once the model is loaded."""
    return HealthOut(status="ok")


@app.get("/model", response_model=ModelOut)
def model_info(model: ModelDep) -> ModelOut:
    """The model in use, its labels and the accuracy measured when it was trained."""
    return ModelOut(
        model=model.source,
        backend=model.logits.name,
        labels=model.id2label,
        max_tokens=model.max_tokens,
        metrics=model.metrics,
    )
