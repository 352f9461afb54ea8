"""ASGI middleware that answers 413 to a request body over a size limit, before it is read whole."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """Reject bodies larger than `max_bytes`, by Content-Length or while they stream in.

    A body with a Content-Length is refused on it (the server never reads past it); only a
    chunked body is counted as it arrives. `paths` gives some paths (and what lies under them) a
    limit of their own, such as uploads.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, paths: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.paths = {path.rstrip("/"): limit for path, limit in (paths or {}).items()}

    def limit(self, path: str) -> int:
        """The body limit of a request path."""
        for prefix, limit in self.paths.items():
            if path == prefix or path.startswith(prefix + "/"):
                return limit
        return self.max_bytes

    @staticmethod
    async def _reject(send: Send, max_bytes: int) -> None:
        message = f"Request body is larger than {max_bytes} bytes."
        body = json.dumps({"message": message, "detail": message})
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, chunked = None, False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        max_bytes = self.limit(scope["path"]) if self.paths else self.max_bytes
        if length is not None and length.isdigit() and int(length) > max_bytes:
            await self._reject(send, max_bytes)
            return
        if not chunked and (length is None or length.isdigit()):
            # no body, or one the server reads to its Content-Length and no further
            await self.app(scope, receive, send)
            return
        seen, rejected = 0, False

        async def limited_receive() -> Message:
            nonlocal seen, rejected
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > max_bytes and not rejected:
                rejected = True
                await self._reject(send, max_bytes)
                return {"type": "http.disconnect"}  # the app stops reading, as if the client left
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:  # the 413 has been sent: whatever the app answers is dropped
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:
                raise
