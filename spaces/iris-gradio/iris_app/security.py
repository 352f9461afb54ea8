"""What every Space's API does the same way: the error body, API keys and rate limits.

The module is copied, identical, into each Space (each must work when copied out alone); a repo
test keeps the copies equal. It knows nothing of the Space: the app factory passes its settings.

- Every 4xx/5xx answer is `{"message": <one readable sentence>, "detail": <more, or null>}`.
- With API keys configured, every API route except OPEN_PATHS (and the UI mounted at /) needs one,
  as `Authorization: Bearer <key>` or `X-API-Key: <key>`; keys are compared in constant time
  against every configured key and never logged.
- Each API route has a rate limit per client (the `limits` library, moving window, in memory);
  the client is the peer address, or the address the trusted proxies saw (X-Forwarded-For).
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

# Always open, key or not: liveness, readiness and the API's documentation.
OPEN_PATHS = frozenset(
    {"/health", "/ready", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}
)
NO_LIMIT = frozenset({"", "none", "off", "unlimited"})
ROUTE_MEMORY = 4096  # paths whose API route the guard remembers


class ApiRoute(NamedTuple):
    """The API route a request is for, whether it takes the request's method, and whether it
    is one of OPEN_PATHS (no key, no limit; only a wrong method is refused)."""

    path: str
    method_allowed: bool
    open: bool = False


class ErrorOut(BaseModel):
    """Every 4xx and 5xx answer: one readable sentence, and details for programs."""

    message: str = Field(description="What went wrong, in one sentence for people.")
    detail: Any = Field(None, description="More: the errors field by field (422), or null.")


def documented_errors(meanings: Mapping[int, str], *codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses (`meanings` says what each means here), each
    with the one error body as JSON (also on a route that streams events, whose own media type
    FastAPI would give a `model`)."""
    body = {"application/json": {"schema": ErrorOut.model_json_schema()}}
    return {code: {"description": meanings[code], "content": body} for code in codes}


def error_response(
    status: int, message: str, detail: Any = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The one error body of every API (ErrorOut): a sentence for people, details for programs."""
    return JSONResponse(
        status_code=status, content={"message": message, "detail": detail}, headers=headers
    )


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    """422 with one readable sentence naming each bad field, plus the errors field by field.

    The input is not echoed back: it may be huge, NaN (which JSON cannot carry) or not encodable.
    """
    assert isinstance(exc, RequestValidationError)
    detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    fields = [
        f"body (at character {e['loc'][-1]})"
        if e["type"] == "json_invalid"
        else ".".join(str(p) for p in e["loc"] if p != "body") or "body"
        for e in detail
    ]
    message = "; ".join(f"{f}: {e['msg']}" for f, e in zip(fields, detail, strict=True))
    return error_response(422, f"Invalid request. {message}", detail)


async def http_error(_: Request, exc: Exception) -> JSONResponse:
    """Every refusal (ours, and Starlette's 404/405) as {"message", "detail"}."""
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else f"HTTP {exc.status_code}"
    return error_response(exc.status_code, message, exc.detail, exc.headers)


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug: 500 with the same body, and nothing of the request or the exception in it.

    Starlette answers it outside every middleware, so the request id (which the request id
    middleware wrote into the request's headers) is copied here.
    """
    request_id = request.headers.get("x-request-id")
    headers = {"X-Request-ID": request_id} if request_id else None
    return error_response(500, "Internal server error; the failure was logged.", None, headers)


def add_error_handlers(app: FastAPI) -> None:
    """Install the three handlers on an app."""
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, server_error)


def parse_keys(value: str | None) -> tuple[bytes, ...]:
    """The API keys of a comma-separated list (several during a rotation); empty: no key."""
    return tuple(k.strip().encode() for k in (value or "").split(",") if k.strip())


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request carries: `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key", "").strip() or None


def key_is_valid(keys: Iterable[bytes], presented: str | None) -> bool:
    """Constant-time comparison against every configured key (no early exit)."""
    if presented is None:
        return False
    given = presented.encode("latin-1", "replace")  # the header's own bytes
    matches = [hmac.compare_digest(given, key) for key in keys]
    return any(matches)


def parse_limit(value: str) -> list[RateLimitItem]:
    """`"60/minute"`, `"10/second;100/hour"`, or none/off/unlimited/empty for no limit."""
    if value.strip().lower() in NO_LIMIT:
        return []
    return parse_many(value)


def check_limits(limits: str | Mapping[str, str]) -> None:
    """ValueError naming the bad value (one limit, or limits per route)."""
    for route, value in ({"": limits} if isinstance(limits, str) else limits).items():
        try:
            parse_limit(value)
        except ValueError:
            where = f" for {route}" if route else ""
            raise ValueError(f"the rate limit {value!r}{where} is not like 60/minute") from None


def client_address(scope: Scope, trusted_proxies: int) -> str:
    """The peer's address; behind N trusted proxies, the address the outermost one saw.

    Each proxy appends the address it received from to X-Forwarded-For, so the N-th entry from
    the right is the client; entries left of it are whatever the client wrote, and never trusted.
    """
    peer = scope["client"][0] if scope.get("client") else "unknown"
    if trusted_proxies <= 0:
        return peer
    values = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
    hops = [h.strip() for h in ",".join(values).split(",") if h.strip()]
    if not hops:
        return peer
    return hops[-min(trusted_proxies, len(hops))]


class ApiGuard:
    """ASGI middleware in front of the API: rate limit per client and route, then the key.

    API routes are the app's routes, plus `protected_prefixes` (the MCP endpoints, even under the
    mounted UI); everything else (the UI, unknown paths) passes through. OPEN_PATHS need no key
    and have no limit. A method an API route (open or not) does not take is answered 405 here: the
    router would hand it to the UI mounted at /, which answers 404.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_keys: str | None,
        default_limit: str,
        route_limits: Mapping[str, str],
        trusted_proxies: int = 0,
        protected_prefixes: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.keys = parse_keys(api_keys)
        self.default_limit = parse_limit(default_limit)
        self.route_limits = {route: parse_limit(v) for route, v in route_limits.items()}
        self.trusted_proxies = trusted_proxies
        self.prefixes = tuple(p.rstrip("/") for p in protected_prefixes)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.routes: dict[tuple[str, str], ApiRoute | None] = {}  # (method, path) -> API route

    def api_route(self, scope: Scope) -> ApiRoute | None:
        """The API route a request is for, or None when it is not one.

        Remembered per path (at most ROUTE_MEMORY paths): matching every route per request
        cost more than the rest of the guard.
        """
        key = (scope["method"], scope["path"])
        if key in self.routes:
            return self.routes[key]
        if len(self.routes) >= ROUTE_MEMORY:
            self.routes.clear()
        route = self.routes[key] = self._api_route(scope)
        return route

    def _api_route(self, scope: Scope) -> ApiRoute | None:
        path: str = scope["path"]
        is_open = path in OPEN_PATHS
        for prefix in () if is_open else self.prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return ApiRoute(prefix, True)
        found: ApiRoute | None = None
        for route in self._routes(scope):
            if isinstance(route, Mount):  # the UI mounted at /: open to visitors
                break
            match, _ = route.matches(scope)  # PARTIAL: the path is right, the method is not
            if match == Match.FULL:
                return ApiRoute(getattr(route, "path", path), True, is_open)
            if match == Match.PARTIAL and found is None:
                found = ApiRoute(getattr(route, "path", path), False, is_open)
        return found

    @staticmethod
    def _routes(scope: Scope) -> list[BaseRoute]:
        return getattr(getattr(scope.get("app"), "router", None), "routes", [])

    def allowed_methods(self, scope: Scope) -> list[str]:
        """The methods the request's API route takes (for the Allow header of a 405)."""
        return [
            method
            for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
            if (found := self._api_route({**scope, "method": method})) and found.method_allowed
        ]

    def retry_after(self, scope: Scope, route: str) -> int | None:
        """None when the request is within its limits, else seconds until it would be."""
        limits = self.route_limits.get(route, self.default_limit)
        client = client_address(scope, self.trusted_proxies)
        for item in limits:
            if not self.limiter.hit(item, route, client):
                reset = self.limiter.get_window_stats(item, route, client).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.api_route(scope) if scope["type"] == "http" else None
        if found is None or (found.open and found.method_allowed):
            await self.app(scope, receive, send)
            return
        route = found.path
        wait = None if found.open else self.retry_after(scope, route)
        if wait is not None:
            response = error_response(
                429,
                f"Too many requests to {route}; retry in {wait} s.",
                {"retry_after": wait},
                {"Retry-After": str(wait)},
            )
            await response(scope, receive, send)
            return
        if self.keys and not found.open:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            presented = presented_key(headers)
            if not key_is_valid(self.keys, presented):
                message = (
                    "This API needs a key: send it as 'Authorization: Bearer <key>' or "
                    "'X-API-Key: <key>'."
                    if presented is None
                    else "The API key is not valid."
                )
                response = error_response(401, message, None, {"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        if not found.method_allowed:
            methods = self.allowed_methods(scope)
            allowed = ", ".join(methods)
            response = error_response(
                405,
                f"Method not allowed: {route} takes {allowed}, not {scope['method']}.",
                {"allowed": methods},
                {"Allow": allowed},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
