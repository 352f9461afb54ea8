"""The HTTP API: /search, /ask, /ask/stream (SSE), /documents, /health, /ready, /metrics."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from fastapi.sse import KEEPALIVE_COMMENT
from prometheus_client import CollectorRegistry

from rag_app.chain import Prepared
from rag_app.http_limits import BodySizeLimit
from rag_app.ingest import SUPPORTED, DocumentError
from rag_app.llm import (
    GenerationTimeoutError,
    LLMError,
    QueueFullError,
    QueueTimeoutError,
    ShuttingDownError,
    TokenStream,
)
from rag_app.metrics import RagMetrics
from rag_app.observability import add_metrics, add_request_id
from rag_app.schemas import (
    AskRequest,
    AskResponse,
    Context,
    DocumentInfo,
    DocumentsResponse,
    Quote,
    SearchRequest,
    SearchResponse,
    Source,
    UploadResponse,
    UploadResult,
    error_responses,
    has_words,
)
from rag_app.security import ApiGuard, add_error_handlers, key_is_valid, parse_keys, presented_key
from rag_app.service import RagService
from rag_app.settings import Settings, get_settings

UI_UPLOAD_PATH = "/gradio_api/upload"  # the chat's upload panel sends its files here
MCP_PATH = "/gradio_api/mcp"  # Gradio's MCP server, under the mounted UI: an API, keyed
STOPPING = "the server is shutting down; ask again in a moment"
DISCONNECT_CHECK_S = 0.2  # how often a generation asks whether its client is still there
KEEPALIVE_S = 15.0  # a comment line on an /ask/stream that has sent nothing for this long


def service_of(request: Request) -> RagService:
    service: RagService = request.app.state.service
    if not service.ready:
        raise HTTPException(503, "The index and the LLM are still loading; retry shortly.")
    return service


ServiceDep = Annotated[RagService, Depends(service_of)]


def check_text(text: str, top_k: int | None, service: RagService, what: str) -> None:
    s = service.settings
    if not has_words(text):  # the MCP tools' check (the JSON schema does it for HTTP)
        raise HTTPException(422, f"{what} must contain at least one letter or digit")
    if len(text) > s.max_question_chars:
        raise HTTPException(
            422, f"{what} is {len(text)} characters; the limit is {s.max_question_chars}"
        )
    if top_k is not None and top_k > s.top_k_max:
        raise HTTPException(422, f"top_k must be between 1 and {s.top_k_max}, got {top_k}")


async def prepared_answer(body: AskRequest, service: ServiceDep) -> Prepared:
    """Retrieve, then wait for the LLM; 503 if the queue is full or the wait too long."""
    check_text(body.question, body.top_k, service, "the question")
    assert service.chain is not None
    assert service.queue is not None
    try:
        if service.settings.answer_mode != "extract":  # a full queue refuses before retrieval
            service.queue.check_room()
        prepared = await run_in_threadpool(service.chain.prepare, body.question, body.top_k)
        if prepared.stream is not None:
            await prepared.stream.await_started(service.settings.queue_timeout_s)
    except (QueueFullError, QueueTimeoutError, ShuttingDownError) as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc
    return prepared


def llm_failure(exc: LLMError) -> tuple[int, str]:
    """The HTTP status of a generation that did not finish, and its kind for the stream's event."""
    if isinstance(exc, GenerationTimeoutError):
        return 504, "generation_timeout"
    if isinstance(exc, ShuttingDownError):
        return 503, "shutting_down"
    return 502, "llm_failed"


PreparedDep = Annotated[Prepared, Depends(prepared_answer)]


def _answer(service: RagService, prepared: Prepared, text: str, request: Request) -> AskResponse:
    assert service.chain is not None
    answer = service.chain.finish(prepared, text)
    metrics: RagMetrics = request.app.state.metrics
    metrics.answers.labels(answer.kind).inc()
    return AskResponse(**answer.to_dict())


def _context(prepared: Prepared) -> Context:
    return Context(
        sources=[Source(**asdict(h)) for h in prepared.sources],
        evidence=[Quote(**asdict(e)) for e in prepared.evidence],
    )


async def _batches(
    stream: TokenStream, request: Request, keepalive: float | None = None, every: float = 0.0
) -> AsyncIterator[list[str]]:
    """The generation's tokens, in lists of those that arrived together (usually one), until it
    ends or the client goes away, which cancels it at once. Whether the client is still there is
    asked every DISCONNECT_CHECK_S, not per token: Starlette's check costs more CPU than the rest
    of a token's way to the client, CPU taken from the LLM's threads. (A stream also ends when
    its response does: the server stops it when the client goes.) With `keepalive`, an empty
    list when no token has come for that many seconds; `every`: TokenStream.batches'."""
    checked = time.perf_counter()
    async with aclosing(stream.batches(keepalive, every)) as batches:
        async for tokens in batches:
            now = time.perf_counter()
            if now - checked >= DISCONNECT_CHECK_S:
                checked = now
                if await request.is_disconnected():
                    return
            yield tokens


async def _tokens(stream: TokenStream, request: Request, every: float) -> AsyncIterator[str]:
    """The generation's tokens until it ends or the client goes away (which cancels it at once)."""
    async with aclosing(_batches(stream, request, every=every)) as batches:
        async for tokens in batches:
            for token in tokens:
                yield token


rag = APIRouter(tags=["rag"], responses=error_responses(400, 401, 413, 422, 429, 503))
documents_router = APIRouter(tags=["documents"], responses=error_responses(401, 429, 503))


@rag.post("/search")
def search(body: SearchRequest, svc: ServiceDep) -> SearchResponse:
    """The chunks that best match the query (hybrid retrieval, no LLM)."""
    check_text(body.query, body.top_k, svc, "the query")
    return SearchResponse(results=[Source(**asdict(h)) for h in svc.search(body.query, body.top_k)])


@rag.post(
    "/ask",
    responses={
        503: {"description": "LLM queue full, or the server shutting down"},
        504: {"description": "the generation ran longer than RAG_GENERATION_TIMEOUT_S"},
    },
)
async def ask(prepared: PreparedDep, svc: ServiceDep, request: Request) -> AskResponse:
    """The answer with its quoted evidence, sources and timings."""
    text = ""
    if prepared.stream is not None:
        try:
            every = svc.settings.stream_every_ms / 1000
            text = "".join([token async for token in _tokens(prepared.stream, request, every)])
        except LLMError as exc:
            status, _ = llm_failure(exc)
            headers = {"Retry-After": "5"} if status == 503 else None
            raise HTTPException(status, str(exc), headers=headers) from exc
    return _answer(svc, prepared, text, request)


# What FastAPI documents for an SSE stream it writes itself (OpenAPI 3.2's itemSchema).
SSE_ITEM = {
    "type": "object",
    "properties": {
        "data": {"type": "string"},
        "event": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # as FastAPI's SSE


class EventStream(StreamingResponse):
    """A text/event-stream response whose bytes the route writes (FastAPI's EventSourceResponse,
    as a route's response_class, makes FastAPI write the events itself)."""

    media_type = "text/event-stream"


def _sse(event: str, data: str) -> bytes:
    """One server-sent event; `data` is JSON on one line."""
    return b"event: " + event.encode() + b"\ndata: " + data.encode() + b"\n\n"


@rag.post(
    "/ask/stream",
    response_class=StreamingResponse,  # no media type: the docs hold only `responses`
    responses={200: {"content": {"text/event-stream": {"itemSchema": SSE_ITEM}}}},
)
async def ask_stream(prepared: PreparedDep, svc: ServiceDep, request: Request) -> EventStream:
    """Server-sent events: `context` (sources, evidence) before the first token, then `token`
    events ({"text"}), then `answer` (as /ask; its answer may be the quote, not the tokens).
    A generation that fails, runs out of time or is stopped by a shutdown ends the stream with
    an `error` event instead: {"message", "detail": "llm_failed" | "generation_timeout" |
    "shutting_down"}."""
    return EventStream(_events(prepared, svc, request), headers=SSE_HEADERS)


async def _events(prepared: Prepared, svc: RagService, request: Request) -> AsyncIterator[bytes]:
    """The bytes of /ask/stream's events, written here rather than by FastAPI's SSE layer (whose
    two tasks and memory streams cost more CPU per token than the rest of its way). Tokens that
    arrived together go out in one write; a comment line keeps the connection alive when no
    token has come for KEEPALIVE_S, as FastAPI's would."""
    yield _sse("context", _context(prepared).model_dump_json())
    tokens: list[str] = []
    if prepared.stream is not None:
        try:
            every = svc.settings.stream_every_ms / 1000
            async with aclosing(_batches(prepared.stream, request, KEEPALIVE_S, every)) as batches:
                async for batch in batches:
                    if not batch:
                        yield KEEPALIVE_COMMENT
                        continue
                    tokens += batch
                    yield b"".join(_sse("token", json.dumps({"text": t})) for t in batch)
        except LLMError as exc:
            _, kind = llm_failure(exc)
            yield _sse("error", json.dumps({"message": str(exc), "detail": kind}))
            return
    answer = _answer(svc, prepared, "".join(tokens), request)
    if prepared.stream is None:  # no generation: the answer is the only text
        yield _sse("token", json.dumps({"text": answer.answer}))
    yield _sse("answer", answer.model_dump_json())


@documents_router.get("/documents")
def documents(svc: ServiceDep) -> DocumentsResponse:
    """The documents the index holds."""
    docs = [DocumentInfo(**asdict(d)) for d in svc.documents()]
    assert svc.index is not None
    return DocumentsResponse(documents=docs, chunks=svc.index.size)


@documents_router.post(
    "/documents", status_code=201, responses=error_responses(400, 403, 413, 415, 422)
)
async def upload(
    svc: ServiceDep, request: Request, files: Annotated[list[UploadFile], File()]
) -> UploadResponse:
    """Add .md, .txt or .pdf files to the index every visitor searches (persisted); same content
    is skipped. Needs a valid API key, unless UPLOADS=shared on a Space without one."""
    s = svc.settings
    app_settings: Settings = request.app.state.settings
    key = app_settings.api_key
    keyed = key_is_valid(
        parse_keys(key.get_secret_value() if key else None), presented_key(request.headers)
    )
    if not keyed and app_settings.uploads != "shared":
        raise HTTPException(
            403,
            "Uploads into the shared index need this Space's API key (RAG_API_KEY or API_KEY, "
            "sent as 'Authorization: Bearer <key>'); RAG_UPLOADS=shared opens them to everyone.",
        )
    if len(files) > s.max_upload_files:
        raise HTTPException(422, f"at most {s.max_upload_files} files per request")
    payloads: list[tuple[str, bytes]] = []
    for f in files:
        name = (f.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
        suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if suffix not in SUPPORTED:
            raise HTTPException(
                415,
                f"{name or 'file'}: type '{suffix}' not accepted; send {', '.join(SUPPORTED)}",
            )
        data = await f.read(s.max_upload_bytes + 1)
        if len(data) > s.max_upload_bytes:
            raise HTTPException(413, f"{name} is larger than {s.max_upload_mb:g} MB")
        if not data.strip():
            raise HTTPException(422, f"{name} is empty")
        payloads.append((name, data))
    results = []
    for name, data in payloads:
        try:
            result = await run_in_threadpool(svc.add_document, name, data)
        except DocumentError as exc:
            raise HTTPException(422, str(exc)) from exc
        results.append(UploadResult(**asdict(result)))
    assert svc.index is not None
    return UploadResponse(results=results, chunks=svc.index.size)


def create_app(settings: Settings | None = None, service: RagService | None = None) -> FastAPI:
    """The API app; its lifespan loads the index and the LLM unless `service` is already loaded.

    `settings` default to the service's, or to the environment's; `uvicorn --factory
    rag_app.api:create_app` serves the API alone, app.py adds the Gradio UI.
    """
    settings = settings or (service.settings if service else get_settings())
    service = service or RagService(settings)
    owned = not service.ready
    registry = CollectorRegistry()  # one per app: apps built side by side never share counters
    metrics = RagMetrics(registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned:
            await run_in_threadpool(service.load)
        assert service.queue is not None
        unwatch = metrics.watch(service.queue)
        stopping: Callable[[], bool] | None = getattr(app.state, "stopping", None)
        ender = None
        if stopping is not None:  # set by app.py: uvicorn's server was told to stop (SIGTERM)
            drain = settings.shutdown_timeout_s - 1
            ender = asyncio.create_task(_end_generations(stopping, service, drain))
        yield
        if ender is not None:
            ender.cancel()
        unwatch()
        if owned:
            service.close()

    app = FastAPI(
        title="RAG Space API",
        description="Answers questions about a document collection, with quoted evidence.",
        version="2.0.0",
        lifespan=lifespan,
    )
    app.state.service, app.state.settings, app.state.metrics = service, settings, metrics
    add_error_handlers(app)
    app.add_middleware(
        ApiGuard,
        api_keys=settings.api_key.get_secret_value() if settings.api_key else None,
        default_limit=settings.rate_limit,
        route_limits=settings.rate_limits,
        trusted_proxies=settings.trusted_proxies,
        protected_prefixes=[MCP_PATH],
    )
    add_metrics(app, registry)
    uploads = {"/documents": settings.upload_body_limit, UI_UPLOAD_PATH: settings.upload_body_limit}
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, paths=uploads)
    add_request_id(app)  # outermost: every answer carries X-Request-ID

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, str]:
        """200 while the process is up (it may still be loading)."""
        return {"status": "ok"}

    @app.get("/ready", tags=["ops"], responses=error_responses(503))
    def ready() -> dict[str, str | int]:
        """200 once the index and the LLM are loaded, 503 before."""
        if not service.ready or service.index is None:
            raise HTTPException(503, "The index and the LLM are still loading; retry shortly.")
        return {
            "status": "ready",
            "documents": len(service.index.manifest.documents),
            "chunks": service.index.size,
            "embedding_model": service.settings.embedding_name,
            "retrieval": service.settings.retrieval,
            "answer_mode": service.settings.answer_mode,
            "llm": service.llm_name,
            "uploads": "shared with a key"
            + (", or by anyone" if settings.uploads == "shared" else ""),
        }

    app.include_router(rag)
    app.include_router(documents_router)
    return app


async def _end_generations(stopping: Callable[[], bool], service: RagService, drain: float) -> None:
    """Once the server is told to stop (SIGTERM), give generations `drain` seconds to finish,
    then end the rest with a clear error, so that every answer ends before uvicorn's
    timeout_graceful_shutdown cuts its connection."""
    while not stopping():
        await asyncio.sleep(0.1)
    await asyncio.sleep(max(drain, 0))
    if service.queue is not None:
        service.queue.stop(STOPPING)
