"""The bad-input catalogues' shared parts: a case, the checks of a refusal, and big bodies.

Each Space's tests/<space>/test_bad_inputs.py lists its cases; every case is sent to the real
server over loopback and must get its documented answer: a 4xx with the one error body
({"message": <a sentence>, "detail": ...}) or a safe 200, after which the server still serves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

MB = 1_000_000
JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Bad:
    """One bad request and its documented outcome."""

    id: str
    path: str
    status: int
    says: str = ""  # a phrase the error message must contain (refusals)
    method: str = "POST"
    # httpx.request keyword arguments, or a function making them (big bodies made when sent)
    send: dict[str, Any] | Callable[[], dict[str, Any]] = field(default_factory=dict)
    then: Callable[[httpx.Response], None] | None = None  # checks of a safe answer (2xx)
    anonymous: bool = False  # sent without the API key the other cases carry

    def __post_init__(self) -> None:
        assert (self.then is None) == (self.status >= 400), "a safe answer says how it is safe"

    def request(self, base: str, headers: dict[str, str] | None = None) -> httpx.Response:
        send = self.send() if callable(self.send) else dict(self.send)
        if callable(send.get("content")):  # a generator factory: streamed, no Content-Length
            send["content"] = send["content"]()
        send["headers"] = {**({} if self.anonymous else headers or {}), **send.get("headers", {})}
        return httpx.request(self.method, base + self.path, timeout=120, **send)


def raw(body: bytes | str, content_type: str = "application/json") -> dict[str, Any]:
    """Send these exact bytes (a str is UTF-8 encoded, lone surrogates escaped as JSON does)."""
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return {"content": data, "headers": {"content-type": content_type}}


def as_json(value: Any) -> dict[str, Any]:
    """A JSON body as Python writes it: NaN and Infinity as their non-standard literals,
    lone surrogates as \\ud800 escapes (json.dumps keeps both)."""
    return raw(json.dumps(value))


def streamed(total: int, chunk: int = 1 << 16) -> dict[str, Any]:
    """`total` bytes sent chunked, without Content-Length (the server must count as they come)."""

    def chunks() -> Iterator[bytes]:
        sent = 0
        while sent < total:
            yield b" " * min(chunk, total - sent)
            sent += chunk

    return {"content": chunks, "headers": JSON}


def declared(total: int) -> dict[str, Any]:
    """`total` bytes of JSON whitespace with their Content-Length declared."""
    return raw(b" " * total)


def check_answer(case: Bad, response: httpx.Response) -> None:
    """The documented status; refusals in the one error body, naming the problem; no traceback."""
    assert response.status_code == case.status, (
        f"{case.id}: {response.status_code} {response.text[:600]}"
    )
    assert response.headers.get("x-request-id"), "every answer carries its request id"
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"message", "detail"}, body
        assert isinstance(body["message"], str), body
        assert len(body["message"]) > 10, body
        assert case.says.lower() in body["message"].lower(), body["message"]
    if case.then is not None:
        case.then(response)
