"""The Iris HTTP API: schemas in, predictions out; the model is loaded once in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CollectorRegistry

from iris_app.batching import Batcher, MicroBatcher
from iris_app.http_limits import BodySizeLimit
from iris_app.metrics import ModelMetrics
from iris_app.model import IrisModel, Prediction
from iris_app.observability import add_metrics, add_request_id
from iris_app.schemas import (
    API_ERRORS,
    BODY_ERRORS,
    BatchIn,
    BatchOut,
    Health,
    IrisFeatures,
    ModelInfo,
    PredictionOut,
    Ready,
    error_responses,
)
from iris_app.security import ApiGuard, add_error_handlers
from iris_app.settings import Settings, get_settings

MCP_PATH = "/gradio_api/mcp"  # Gradio's MCP server, under the mounted UI: an API, keyed
# Builds the batcher of one lifespan from the model and the settings.
BatcherFactory = Callable[[IrisModel, Settings], Batcher[Prediction]]


async def get_model(request: Request) -> IrisModel:
    """The model loaded at start-up; 503 until it is."""
    model = getattr(request.app.state, "model", None)
    if model is None:
        raise HTTPException(status_code=503, detail="The model is not loaded yet.")
    return model


ModelDep = Annotated[IrisModel, Depends(get_model)]


def _rows(items: list[IrisFeatures], features: tuple[str, ...]) -> np.ndarray:
    return np.array([[getattr(item, f) for f in features] for item in items], dtype=np.float64)


def _out(prediction: Prediction, version: str) -> PredictionOut:
    return PredictionOut(
        species=prediction.species, probabilities=prediction.probabilities, model_version=version
    )


def micro_batcher(model: IrisModel, settings: Settings) -> MicroBatcher[Prediction]:
    """The Space's own batcher (iris_app.batching)."""
    return MicroBatcher(model.predict, max_batch=settings.max_batch)


def create_app(
    settings: Settings | None = None, make_batcher: BatcherFactory = micro_batcher
) -> FastAPI:
    """The FastAPI app; `app.state.model` is set while the lifespan runs.

    `make_batcher` builds what groups concurrent /predict requests into model calls
    (iris_app.serve passes Ray Serve's `@serve.batch` in place of the micro-batcher).
    """
    settings = settings or get_settings()
    # One registry per app, so that apps built side by side (tests) never share counters.
    registry = CollectorRegistry()
    metrics = ModelMetrics(registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        model = IrisModel.load(settings.model_path, settings.metadata_path)
        app.state.batcher = make_batcher(model, settings)
        unwatch = metrics.watch(model, app.state.batcher)
        app.state.batcher.start()
        app.state.model = model
        yield
        app.state.model = None
        await app.state.batcher.stop()
        unwatch()

    app = FastAPI(
        title="Iris classifier",
        summary="Predict an iris species from four measurements in centimetres.",
        version="1.0.0",
        lifespan=lifespan,
    )
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
    if settings.metrics:
        add_metrics(app, registry)
    add_request_id(app)  # outermost: every answer carries X-Request-ID

    @app.post("/predict", tags=["predict"], responses=BODY_ERRORS)
    async def predict(features: IrisFeatures, model: ModelDep, request: Request) -> PredictionOut:
        """Predict the species of one flower (concurrent requests share one model call)."""
        batcher: Batcher[Prediction] = request.app.state.batcher
        return _out(await batcher.submit(_rows([features], model.features)), model.version)

    @app.post("/predict/batch", tags=["predict"], responses=BODY_ERRORS)
    async def predict_batch(batch: BatchIn, model: ModelDep) -> BatchOut:
        """Predict many flowers at once, in order."""
        predictions = await run_in_threadpool(model.predict, _rows(batch.items, model.features))
        return BatchOut(predictions=[_out(p, model.version) for p in predictions])

    @app.get("/health", tags=["ops"])
    async def health() -> Health:
        """200 while the process is up (the model may still be loading)."""
        return Health(status="ok")

    @app.get("/ready", tags=["ops"], responses=error_responses(503))
    async def ready(model: ModelDep) -> Ready:
        """200 once the model is loaded, 503 before."""
        return Ready(status="ready", model_version=model.version)

    @app.get("/model", tags=["ops"], responses=API_ERRORS)
    async def model_info(model: ModelDep) -> ModelInfo:
        """The model's metadata and metrics."""
        meta: dict[str, Any] = model.meta
        return ModelInfo(**meta)

    return app
