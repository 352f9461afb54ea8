"""The HTTP API: routes and lifespan; it calls the model through the micro-batcher.

`create_app(settings)` builds it (`uvicorn --factory sentiment_app.api:create_app`, or
`python -m sentiment_app api`). The same app serves the MCP tool `classify` at /mcp
(sentiment_app.tools).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from prometheus_client import CollectorRegistry

from sentiment_app.batching import Batcher, MicroBatcher
from sentiment_app.http_limits import BodySizeLimit
from sentiment_app.metrics import ModelMetrics
from sentiment_app.model import Prediction, SentimentModel, load_model
from sentiment_app.observability import add_metrics, add_request_id
from sentiment_app.schemas import (
    API_ERRORS,
    BODY_ERRORS,
    BatchOut,
    HealthOut,
    ModelOut,
    ReadyOut,
    SentimentOut,
    TextIn,
    TextsIn,
    error_responses,
)
from sentiment_app.security import ApiGuard, add_error_handlers
from sentiment_app.settings import Settings, get_settings
from sentiment_app.tools import PATH as MCP_PATH
from sentiment_app.tools import McpEndpoint

NOT_LOADED = "The model is not loaded yet."
# Builds the batcher of one lifespan from the model, the settings and the batch-size metric.
BatcherFactory = Callable[[SentimentModel, Settings, Callable[[int], None]], Batcher[Prediction]]


def get_model(request: Request) -> SentimentModel:
    """The loaded model; 503 until it is."""
    model = getattr(request.app.state, "model", None)
    if model is None:
        raise HTTPException(status_code=503, detail=NOT_LOADED)
    return model


def get_batcher(request: Request) -> Batcher[Prediction]:
    """The micro-batcher in front of the model; 503 until it runs."""
    batcher = getattr(request.app.state, "batcher", None)
    if batcher is None:
        raise HTTPException(status_code=503, detail=NOT_LOADED)
    return batcher


ModelDep = Annotated[SentimentModel, Depends(get_model)]
BatcherDep = Annotated[Batcher[Prediction], Depends(get_batcher)]
router = APIRouter()


@router.post("/sentiment", response_model=SentimentOut, responses=BODY_ERRORS)
async def sentiment(body: TextIn, batcher: BatcherDep) -> SentimentOut:
    """Classify one text."""
    result = await batcher.predict(body.text)
    return SentimentOut(label=result.label, score=result.score)


@router.post("/sentiment/batch", response_model=BatchOut, responses=BODY_ERRORS)
async def sentiment_batch(body: TextsIn, batcher: BatcherDep) -> BatchOut:
    """Classify up to 256 texts; results come back in the same order."""
    results = await batcher.predict_many(body.texts)
    return BatchOut(results=[SentimentOut(label=r.label, score=r.score) for r in results])


@router.get("/health", response_model=HealthOut, tags=["ops"])
def health() -> HealthOut:
    """200 while the process is up (the model may still be loading)."""
    return HealthOut(status="ok")


@router.get("/ready", tags=["ops"], responses=error_responses(503))
def ready(model: ModelDep) -> ReadyOut:
    """200 once the model is loaded, 503 before."""
    return ReadyOut(status="ready", model=model.source, backend=model.logits.name)


@router.get("/model", response_model=ModelOut, responses=API_ERRORS)
def model_info(model: ModelDep) -> ModelOut:
    """The model in use, its labels and the accuracy measured when it was trained."""
    return ModelOut(
        model=model.source,
        backend=model.logits.name,
        labels=model.id2label,
        max_tokens=model.max_tokens,
        metrics=model.metrics,
    )


def micro_batcher(
    model: SentimentModel, settings: Settings, on_batch: Callable[[int], None]
) -> MicroBatcher[Prediction]:
    """The Space's own batcher (sentiment_app.batching)."""
    return MicroBatcher(model.predict, settings.max_batch, settings.batch_wait_ms, on_batch)


def create_app(
    settings: Settings | None = None,
    make_batcher: BatcherFactory = micro_batcher,
    model: SentimentModel | None = None,
) -> FastAPI:
    """The API app; `app.state.model` and `app.state.batcher` are set while the lifespan runs.

    `model`, when given, is used instead of loading one in the lifespan (`python -m sentiment_app
    api` loads it first, to stop with one clear line when a file is broken).

    `make_batcher` builds what groups concurrent texts into model calls (sentiment_app.serve
    passes Ray Serve's `@serve.batch` in place of the micro-batcher).
    """
    settings = settings or get_settings()
    # One registry per app, so that apps built side by side (tests) never share counters.
    registry = CollectorRegistry()
    metrics = ModelMetrics(registry)
    mcp_endpoint = McpEndpoint()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Load the model once, then serve through one micro-batcher (HTTP routes and MCP)."""
        logging.basicConfig(level=logging.INFO)
        loaded = model or load_model(settings)
        batcher = make_batcher(loaded, settings, metrics.batch_size.observe)
        unwatch = metrics.watch(loaded, batcher)
        async with batcher, mcp_endpoint.serving(batcher):
            app.state.model, app.state.batcher = loaded, batcher
            yield
            app.state.model = app.state.batcher = None
        unwatch()

    app = FastAPI(
        title="Sentiment API",
        summary="POSITIVE/NEGATIVE sentiment of English text, with dynamic micro-batching.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.model = app.state.batcher = None
    app.state.metrics = metrics
    add_error_handlers(app)
    app.add_middleware(
        ApiGuard,
        api_keys=settings.api_key.get_secret_value() if settings.api_key else None,
        default_limit=settings.rate_limit,
        route_limits=settings.rate_limits,
        trusted_proxies=settings.trusted_proxies,
        protected_prefixes=[MCP_PATH],
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    add_metrics(app, registry)
    add_request_id(app)  # outermost: every answer carries X-Request-ID
    app.include_router(router)
    app.add_route(MCP_PATH, mcp_endpoint, include_in_schema=False)  # MCP uses POST and GET
    return app
