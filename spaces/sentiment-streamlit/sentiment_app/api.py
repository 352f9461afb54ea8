"""The HTTP API: routes and lifespan; it calls the model through the micro-batcher.

The same app serves the MCP tool `classify` at /mcp (sentiment_app.tools).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_fastapi_instrumentator import Instrumentator

from sentiment_app.batching import MicroBatcher
from sentiment_app.http_limits import BodySizeLimit
from sentiment_app.model import Prediction, SentimentModel, load_model
from sentiment_app.schemas import BatchOut, HealthOut, ModelOut, SentimentOut, TextIn, TextsIn
from sentiment_app.settings import get_settings
from sentiment_app.tools import PATH as MCP_PATH
from sentiment_app.tools import McpEndpoint

mcp_endpoint = McpEndpoint()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model once, then serve through one micro-batcher (HTTP routes and MCP tool)."""
    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    model = load_model(settings)
    app.state.model = model
    batcher = MicroBatcher(model.predict, settings.max_batch, settings.batch_wait_ms)
    async with batcher, mcp_endpoint.serving(batcher):
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
app.add_route(MCP_PATH, mcp_endpoint, include_in_schema=False)  # every method: MCP uses POST, GET


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
