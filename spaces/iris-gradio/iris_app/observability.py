"""Request ids and JSON logs, the same in every Space (copied; a repo test keeps the copies equal).

- Every response carries `X-Request-ID`: the client's own when it sent a plain one (at most 128
  letters, digits and `._:-`), else a new one; each log line of that request carries it too.
- `configure_logging()` makes this process (and uvicorn) log one JSON object per line to stdout:
  time, level, logger, message, request_id. Nothing logs request bodies or headers, so neither
  user text nor keys reach the logs.
"""

from __future__ import annotations

import logging
import re
import sys

from asgi_correlation_id import CorrelationIdFilter, CorrelationIdMiddleware
from fastapi import FastAPI
from pythonjsonlogger.json import JsonFormatter

HEADER = "X-Request-ID"
PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def plain_request_id(value: str) -> bool:
    """A client's id is kept only when it cannot forge or bloat a log line."""
    return PLAIN_ID.fullmatch(value) is not None


def add_request_id(app: FastAPI) -> None:
    """Give every response (API, errors, the mounted UI) its request id. Add it last, so that it
    wraps every other middleware and their answers (401, 413, 429) carry the id too."""
    app.add_middleware(CorrelationIdMiddleware, header_name=HEADER, validator=plain_request_id)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stdout for the root logger and uvicorn's (run uvicorn with log_config=None)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(CorrelationIdFilter())
    handler.setFormatter(
        JsonFormatter(
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
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
