"""The Space's MCP tools, `search` and `ask`, served by Gradio's MCP server at /gradio_api/mcp/.

Gradio turns every public API endpoint into a tool named after its function, described by its
docstring and typed by its hints; the chat and upload events are registered as undocumented so
that these two are the only tools. They call the same RagService as the HTTP API, apply the same
limits, and answer with the JSON of `POST /search` and `POST /ask`. No
`from __future__ import annotations` here: Gradio reads the hints at run time.
"""

from dataclasses import asdict

import gradio as gr
from fastapi import HTTPException

from rag_app.api import check_text
from rag_app.llm import LLMError, QueueFullError, QueueTimeoutError
from rag_app.schemas import AskResponse, SearchResponse, Source
from rag_app.security import key_is_valid, parse_keys, presented_key
from rag_app.service import RagService


def _ready(
    service: RagService, text: str, top_k: int | None, what: str, request: gr.Request
) -> str:
    """The stripped text, or a gr.Error saying what is wrong (the API's 401/422/503 messages).

    With an API key set, a call needs it, over MCP (the API guard checks it first) and through
    gradio_client alike; the chat's own events never do.
    """
    key = service.settings.api_key
    keys = parse_keys(key.get_secret_value() if key else None)
    if keys and not key_is_valid(keys, presented_key(request.headers)):
        raise gr.Error("This tool needs the Space's API key: send 'Authorization: Bearer <key>'.")
    if not service.ready:
        raise gr.Error("The index and the LLM are still loading; retry shortly.")
    text = (text or "").strip()
    if not text:
        raise gr.Error(f"{what.capitalize()} is empty; write at least one word.")
    if top_k is not None and top_k < 1:
        raise gr.Error(f"top_k must be between 1 and {service.settings.top_k_max}, got {top_k}")
    try:
        check_text(text, top_k, service, what)
    except HTTPException as exc:
        raise gr.Error(str(exc.detail)) from None
    return text


def add_tools(service: RagService) -> None:
    """Register the tools on the Blocks being built (call inside `with gr.Blocks()`)."""

    def search(query: str, request: gr.Request, top_k: int = 5) -> str:
        """Search the indexed documents on deploying ML models (Hugging Face Spaces, Docker,
        FastAPI, Gradio...) for the passages that best match a query; no LLM is called.

        Args:
            query: What to look for, in words (e.g. "Which port must a Docker Space listen on?").
            top_k: How many passages to return, from 1 to RAG_TOP_K_MAX (20 by default).

        Returns:
            JSON {"results": [...]}, best first: each passage's source file, page (PDFs), chunk
            id, text, cosine score, BM25 keyword score and relevance.
        """
        query = _ready(service, query, top_k, "the query", request)
        hits = service.search(query, top_k)
        return SearchResponse(results=[Source(**asdict(hit)) for hit in hits]).model_dump_json()

    def ask(question: str, request: gr.Request, top_k: int | None = None) -> str:
        """Answer a question from the indexed documents only, with the quoted sentence that
        supports the answer and its sources; "I don't know" when no document is relevant.

        Args:
            question: The question, in words (e.g. "How should secrets be passed to a Space?").
            top_k: Passages the answer may draw on (unset: the Space's RAG_TOP_K_DEFAULT).

        Returns:
            JSON {"answer" (cites passages as [n]), "kind" (generated, quoted or refused),
            "evidence" (verbatim quotes), "sources" (the passages; [n] is sources[n-1]),
            "cited", "timings"}.
        """
        question = _ready(service, question, top_k, "the question", request)
        assert service.chain is not None
        try:
            answer = service.chain.ask(question, top_k)
        except (QueueFullError, QueueTimeoutError) as exc:
            raise gr.Error(f"{exc} Retry in a few seconds.") from None
        except LLMError as exc:
            raise gr.Error(f"The language model failed: {exc}") from None
        return AskResponse(**answer.to_dict()).model_dump_json()

    gr.api(search, api_name="search", queue=False)
    gr.api(ask, api_name="ask", queue=False)
