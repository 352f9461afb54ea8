"""The HTTP API: /search, /ask, /ask/stream (SSE), /documents, /health, /ready, /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Annotated

from fastapi import Depends, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator
from pydantic import BaseModel, Field, StringConstraints

from rag_app.chain import NO_ANSWER, Prepared
from rag_app.ingest import SUPPORTED, DocumentError
from rag_app.llm import LLMError, QueueFullError, QueueTimeoutError
from rag_app.service import RagService
from rag_app.settings import get_settings

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class SearchRequest(BaseModel):
    query: Text = Field(description="What to look for.", examples=["How do I expose metrics?"])
    top_k: int = Field(5, ge=1, description="How many chunks to return (at most TOP_K_MAX).")


class AskRequest(BaseModel):
    question: Text = Field(description="The question.", examples=["What port does a Space use?"])
    top_k: int | None = Field(None, ge=1, description="Chunks given to the LLM (TOP_K_DEFAULT).")


class Source(BaseModel):
    source: str = Field(description="File name of the document.")
    page: int | None = Field(description="Page number (PDFs only, from 1).")
    chunk_id: str
    text: str
    score: float = Field(description="Cosine similarity to the query.")


class SearchResponse(BaseModel):
    results: list[Source]


class AskResponse(BaseModel):
    answer: str
    sources: list[Source] = Field(description="The chunks given to the LLM; [n] is sources[n-1].")
    cited: list[int] = Field(description="Passage numbers the answer cites.")
    timings: dict[str, float]


class DocumentInfo(BaseModel):
    source: str
    sha256: str
    chunks: int
    pages: int | None


class DocumentsResponse(BaseModel):
    documents: list[DocumentInfo]
    chunks: int


class UploadResult(BaseModel):
    source: str
    sha256: str
    status: str = Field(description="added, replaced, or skipped (already held).")
    chunks: int


class UploadResponse(BaseModel):
    results: list[UploadResult]
    chunks: int = Field(description="Chunks in the index after the upload.")


def service_of(request: Request) -> RagService:
    service: RagService = request.app.state.service
    if not service.ready:
        raise HTTPException(503, "the index and the LLM are still loading; retry shortly")
    return service


ServiceDep = Annotated[RagService, Depends(service_of)]


def check_text(text: str, top_k: int | None, service: RagService, what: str) -> None:
    s = service.settings
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
    try:
        prepared = await run_in_threadpool(service.chain.prepare, body.question, body.top_k)
        if prepared.stream is not None:
            await prepared.stream.await_started(service.settings.queue_timeout_s)
    except (QueueFullError, QueueTimeoutError) as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc
    return prepared


PreparedDep = Annotated[Prepared, Depends(prepared_answer)]


def _answer(service: RagService, prepared: Prepared, text: str) -> AskResponse:
    assert service.chain is not None
    answer = service.chain.finish(prepared, text)
    return AskResponse(**answer.to_dict())


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


async def http_error(_: Request, exc: Exception) -> JSONResponse:
    """Every refusal as {"message", "detail"}, like validation errors."""
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        status_code=exc.status_code,
        content={"message": exc.detail, "detail": exc.detail},
        headers=exc.headers,
    )


def create_app(service: RagService | None = None) -> FastAPI:
    """The API app; its lifespan loads the index and the LLM unless `service` is already loaded."""
    service = service or RagService(get_settings())
    owned = not service.ready

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if owned:
            await run_in_threadpool(service.load)
        yield
        if owned:
            service.close()

    app = FastAPI(
        title="RAG Space API",
        description="Answers questions about a document collection, with sources.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.service = service

    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    # One registry per app, so that apps built side by side (tests) never share counters.
    Instrumentator(registry=CollectorRegistry()).instrument(app).expose(
        app, include_in_schema=False
    )

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, str]:
        """The process is up (it may still be loading)."""
        return {"status": "ok"}

    @app.get("/ready", tags=["ops"])
    def ready() -> JSONResponse:
        """200 once the index and the LLM are loaded, 503 before."""
        if not service.ready or service.index is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse(
            {
                "status": "ready",
                "documents": len(service.index.manifest.documents),
                "chunks": service.index.size,
                "embedding_model": service.settings.embedding_name,
                "llm": service.llm_name,
            }
        )

    @app.post("/search", tags=["rag"])
    def search(body: SearchRequest, svc: ServiceDep) -> SearchResponse:
        """The chunks nearest to the query (retrieval only, no LLM)."""
        check_text(body.query, body.top_k, svc, "the query")
        return SearchResponse(
            results=[Source(**asdict(h)) for h in svc.search(body.query, body.top_k)]
        )

    @app.post("/ask", tags=["rag"], responses={503: {"description": "LLM queue full"}})
    async def ask(prepared: PreparedDep, svc: ServiceDep) -> AskResponse:
        """An answer from the retrieved chunks, with its sources and timings."""
        if prepared.stream is None:
            return _answer(svc, prepared, NO_ANSWER)
        try:
            text = "".join([token async for token in prepared.stream])
        except LLMError as exc:
            raise HTTPException(502, str(exc)) from exc
        return _answer(svc, prepared, text)

    @app.post("/ask/stream", tags=["rag"], response_class=EventSourceResponse)
    async def ask_stream(prepared: PreparedDep, svc: ServiceDep) -> AsyncIterable[ServerSentEvent]:
        """Server-sent events: `token` events ({"text"}), then one `sources` event (as /ask)."""
        tokens: list[str] = []
        if prepared.stream is None:
            tokens.append(NO_ANSWER)
            yield ServerSentEvent(event="token", data={"text": NO_ANSWER})
        else:
            try:
                async for token in prepared.stream:
                    tokens.append(token)
                    yield ServerSentEvent(event="token", data={"text": token})
            except LLMError as exc:
                yield ServerSentEvent(event="error", data={"detail": str(exc)})
                return
        yield ServerSentEvent(event="sources", data=_answer(svc, prepared, "".join(tokens)))

    @app.get("/documents", tags=["documents"])
    def documents(svc: ServiceDep) -> DocumentsResponse:
        """The documents the index holds."""
        docs = [DocumentInfo(**asdict(d)) for d in svc.documents()]
        assert svc.index is not None
        return DocumentsResponse(documents=docs, chunks=svc.index.size)

    @app.post("/documents", tags=["documents"], status_code=201)
    async def upload(svc: ServiceDep, files: Annotated[list[UploadFile], File()]) -> UploadResponse:
        """Add .md, .txt or .pdf files to the index (persisted); same content is skipped."""
        s = svc.settings
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

    return app


# `uvicorn rag_app.api:app` serves the API alone; app.py adds the Gradio UI.
app = create_app()
