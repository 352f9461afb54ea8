"""Request ids, HTTP metrics and JSON logs, the same in every Space (copied; a repo test keeps
the copies equal).

- Every response carries `X-Request-ID`: the client's own when it sent a plain one (at most 128
  letters, digits and `._:-`), else a new one; each log line of that request carries it too.
- `add_metrics` counts every request in the app's Prometheus registry and serves it at /metrics,
  with the metric names of prometheus-fastapi-instrumentator's defaults (`http_requests_total`
  by method, status class and route template; `http_request_duration_seconds` by method and
  route; `http_request_duration_highr_seconds`), so that dashboards built on them keep working.
- `configure_logging()` makes this process (and uvicorn) log one JSON object per line to stdout:
  time, level, logger, message, request_id. Nothing logs request bodies or headers, so neither
  user text nor keys reach the logs.
- Probes (`/health`, `/ready`) are the platform's, not the visitors': answered below 400 they are
  neither counted nor access-logged (a Space or Cloud Run probes every few seconds; a log line
  and a metric per probe were a third of `/health`'s cost). A failing probe is logged and counted.

Both middlewares are plain ASGI and do a few microseconds of work per request: in front of every
route they were most of a request's cost (CorrelationIdMiddleware and the instrumentator's
middleware, which builds a Request, a Response and matches every route per request; measured in
bench/results/iris_http.md).
"""

from __future__ import annotations

import logging
import random
import re
import sys
import time
from typing import Any

from asgi_correlation_id import CorrelationIdFilter
from asgi_correlation_id.context import correlation_id
from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pythonjsonlogger.orjson import OrjsonFormatter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
LATENCY_BUCKETS = (0.1, 0.5, 1)
LATENCY_HIGHR_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3)
LATENCY_HIGHR_BUCKETS += (3.5, 4, 4.5, 5, 7.5, 10, 30, 60)
PROBES = frozenset({"/health", "/ready"})


def plain_request_id(value: str) -> bool:
    """A client's id is kept only when it cannot forge or bloat a log line."""
    return PLAIN_ID.fullmatch(value) is not None


class RequestId:
    """ASGI middleware: the request's id in the log context, its headers and its response."""

    header = HEADER.lower().encode()

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == self.header), b"")
        value = given.decode("latin-1")
        if not value or not plain_request_id(value):
            # unique, not secret: the process's own generator (seeded from os.urandom, again
            # after a fork) needs no system call, where uuid4 and token_hex make one per request
            value = f"{random.getrandbits(128):032x}"
            # the handlers see it too (a 500 is answered outside every middleware)
            headers = [(k, v) for k, v in scope["headers"] if k != self.header]
            scope["headers"] = [*headers, (self.header, value.encode())]
        correlation_id.set(value)
        header = (HEADER.encode(), value.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)


def add_request_id(app: FastAPI) -> None:
    """Give every response (API, errors, the mounted UI) its request id. Add it last, so that it
    wraps every other middleware and their answers (401, 413, 429) carry the id too."""
    app.add_middleware(RequestId)


class HttpMetrics:
    """ASGI middleware: each request's count and duration by method, status class and route.

    The route is the template the router matched (it leaves it in the scope); a request refused
    before routing (401, 413, 429) is matched here; none matching (404) is `none`.
    """

    def __init__(self, app: ASGIApp, families: tuple[Counter, Histogram, Histogram]) -> None:
        self.app = app
        self.total, self.latency, self.highr = families
        self.children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def handler(self, scope: Scope) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if path:
            return path
        for route in getattr(getattr(scope.get("app"), "router", None), "routes", ()):
            match, _ = route.matches(scope)
            if match != Match.NONE and getattr(route, "path", None):
                return route.path
        return "none"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if status >= 400 or scope["path"] not in PROBES:
                self.record(scope, status, time.perf_counter() - began)

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        key = (scope["method"], f"{str(status)[0]}xx", self.handler(scope))
        children = self.children.get(key)
        if children is None:
            method, group, handler = key
            children = self.children[key] = (
                self.total.labels(method, group, handler),
                self.latency.labels(handler, method),
            )
        children[0].inc()
        children[1].observe(seconds)
        self.highr.observe(seconds)


def add_metrics(app: FastAPI, registry: CollectorRegistry) -> None:
    """Count every request in `registry` and serve the registry at /metrics (an API route)."""
    families = (
        Counter(
            "http_requests_total",
            "Total number of requests by method, status and handler.",
            ("method", "status", "handler"),
            registry=registry,
        ),
        Histogram(
            "http_request_duration_seconds",
            "Latency by handler and method, in seconds.",
            ("handler", "method"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        Histogram(
            "http_request_duration_highr_seconds",
            "Latency of every request, in seconds (many buckets, no labels).",
            buckets=LATENCY_HIGHR_BUCKETS,
            registry=registry,
        ),
    )

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(HttpMetrics, families=families)
    app.add_route("/metrics", metrics, include_in_schema=False)


class QuietProbes(logging.Filter):
    """Drops uvicorn's access line of a probe answered below 400 (its args: client, method,
    path, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (
            isinstance(args, tuple)
            and len(args) == 5
            and args[2] in PROBES
            and isinstance(args[4], int)
            and args[4] < 400
        )


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stdout for the root logger and uvicorn's (run uvicorn with log_config=None)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(CorrelationIdFilter())
    handler.setFormatter(
        OrjsonFormatter(  # python-json-logger's formatter; orjson: a quarter less per line
            "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
            rename_fields={
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "correlation_id": "request_id",
            },
        )
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # The lines carry no caller, thread or process: skip finding them for every record, as the
    # logging HOWTO's "Optimization" section says (a third of an access log line's cost).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.filters = [f for f in access.filters if not isinstance(f, QuietProbes)]
    access.addFilter(QuietProbes())
