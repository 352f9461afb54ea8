"""The API's MCP tool, `classify`, served at /mcp by the official MCP SDK (FastMCP).

FastMCP's own streamable HTTP app answers at /mcp of the FastAPI app. Its session manager runs
inside the API's lifespan and can run only once, so each lifespan builds a fresh server around
the micro-batcher of that run: the tool shares the batches of POST /sentiment.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from mcp.server.fastmcp import FastMCP
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import Field
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from sentiment_app.batching import Batcher
from sentiment_app.model import Prediction
from sentiment_app.schemas import MAX_TEXTS, BatchOut, SentimentOut, Text

PATH = "/mcp"
INSTRUCTIONS = "Classifies English text (reviews, comments) as POSITIVE or NEGATIVE."


def build_server(batcher: Batcher[Prediction]) -> FastMCP:
    """A stateless MCP server with one tool, `classify`, answering through `batcher`."""
    server = FastMCP(
        "Sentiment",
        instructions=INSTRUCTIONS,
        stateless_http=True,  # no session to keep: any replica can answer any request
        json_response=True,
        streamable_http_path=PATH,
        # The Space is public behind the Hub's proxy, which sets its own Host header: the
        # localhost-only DNS-rebinding guard FastMCP enables by default would refuse it.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )

    @server.tool()
    async def classify(
        texts: Annotated[
            list[Text],
            Field(
                min_length=1,
                max_length=MAX_TEXTS,
                description='One or more English texts (1 to 256), e.g. ["I loved it"]. '
                "Texts longer than the model's window keep their head and tail.",
            ),
        ],
    ) -> BatchOut:
        """Classify the sentiment of one or many English texts as POSITIVE or NEGATIVE.

        Returns {"results": [{"label", "score"}, ...]}, one per text in the order given; the
        score is the model's probability for the label (0.5 to 1).
        """
        predictions = await batcher.predict_many(texts)
        return BatchOut(results=[SentimentOut(label=p.label, score=p.score) for p in predictions])

    return server


class McpEndpoint:
    """The ASGI app at /mcp: the MCP server of the running lifespan, 503 outside of one."""

    def __init__(self) -> None:
        self._app: ASGIApp | None = None

    @asynccontextmanager
    async def serving(self, batcher: Batcher[Prediction]) -> AsyncIterator[None]:
        """Serve MCP requests while the block runs (inside the API's lifespan)."""
        server = build_server(batcher)
        app = server.streamable_http_app()
        async with server.session_manager.run():
            self._app = app
            try:
                yield
            finally:
                self._app = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            message = "The model is still loading; retry shortly."
            response = JSONResponse({"message": message, "detail": message}, status_code=503)
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)
