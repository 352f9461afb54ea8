"""The Gradio UI: a streaming chat whose answers show their quoted evidence and sources, an upload
panel, and the index's size. It calls the service (chain, index) directly, not the HTTP API.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from rag_app.chain import Answer, RagChain
from rag_app.evidence import Evidence
from rag_app.index import RagIndex
from rag_app.ingest import SUPPORTED, DocumentError, ingest_bytes
from rag_app.llm import LLMError, QueueFullError, QueueTimeoutError
from rag_app.schemas import has_words
from rag_app.service import RagService
from rag_app.tools import add_tools

# The UI's own events stay callable (gradio_client) but are neither documented nor MCP tools.
UI_ONLY = "undocumented"
UPLOADS_OFF = (
    "Visitors cannot add documents here: what one adds would be searched for everyone. The "
    "owner adds them with the API key (`POST /documents`)."
)
UPLOADS_PRIVATE = (
    "What you add here is searched for **your answers only**, until you close the page; nobody "
    "else sees it."
)
PRIVATE_SESSIONS = 32  # private collections kept in memory at once; the oldest goes first
EXAMPLES = [
    "Which port must a Docker Space listen on?",
    "How do I expose Prometheus metrics from FastAPI?",
    "How should secrets be passed to a Space?",
]


@dataclass
class Private:
    """A visitor's private collection (RAG_UPLOADS=private): their chain over a copy of the
    shared index, and how many files they added to it."""

    chain: RagChain
    added: int = 0


def format_evidence(evidence: list[Evidence], cited: list[int] | None = None) -> str:
    """The quote of the cited passage (else the best quote) as a Markdown block with its source."""
    if not evidence:
        return ""
    quote = next((e for e in evidence if cited and e.passage == cited[0]), evidence[0])
    where = f"`{quote.source}`" + (f", page {quote.page}" if quote.page else "")
    lines = "\n".join(f"> {line}" for line in " ".join(quote.text.split()).splitlines())
    return f"\n\n{lines}\n>\n> — [{quote.passage}] {where}"


def format_sources(answer: Answer) -> str:
    """Markdown list of the passages given to the LLM; cited ones in bold."""
    if not answer.sources:
        return ""
    lines = ["", "", "**Sources**"]
    for n, hit in enumerate(answer.sources, 1):
        where = f"`{hit.source}`" + (f", page {hit.page}" if hit.page else "")
        line = f"[{n}] {where} (score {hit.score:.2f})"
        lines.append(f"- **{line}**" if n in answer.cited else f"- {line}")
    return "\n".join(lines)


def index_status(service: RagService) -> str:
    """One line on what the index holds."""
    if not service.ready or service.index is None:
        return "Loading the index and the model..."
    docs = len(service.index.manifest.documents)
    chunks = service.index.size
    return (
        f"The index holds **{docs} documents** in **{chunks} chunks**; LLM: `{service.llm_name}`."
    )


def build_ui(service: RagService) -> gr.Blocks:
    """The Blocks app; mount it with gr.mount_gradio_app."""

    privates: OrderedDict[str, Private] = OrderedDict()  # by Gradio session
    privates_lock = threading.Lock()

    def private_of(request: gr.Request | None) -> Private | None:
        session = getattr(request, "session_hash", None)
        with privates_lock:
            return privates.get(session) if session else None

    def forget(request: gr.Request) -> None:
        """The visitor closed the page: their collection goes."""
        with privates_lock:
            privates.pop(request.session_hash or "", None)

    def private_copy(mine: Private | None, request: gr.Request) -> Private:
        """The visitor's own chain: a copy of the shared index (read from disk) plus their files.

        The shared index and service.chain are never touched, so no other visitor's answers
        can change."""
        if mine is not None:
            return mine
        s = service.settings
        assert service.index is not None
        assert service.queue is not None
        assert service.chain is not None
        copy = RagIndex.load(s.rag_index_dir, service.index.embeddings, s.embedding_name)
        mine = Private(RagChain(copy, service.queue, s, service.chain.retriever.reranker))
        with privates_lock:
            privates[request.session_hash or ""] = mine
            while len(privates) > PRIVATE_SESSIONS:
                privates.popitem(last=False)
        return mine

    def respond(message: str, history: list[dict], request: gr.Request) -> Iterator[str]:
        question = (message or "").strip()
        if not service.ready or service.chain is None:
            yield "The index and the model are still loading; try again in a moment."
            return
        if not has_words(question):
            yield "Please type a question (in words: at least one letter or digit)."
            return
        limit = service.settings.max_question_chars
        if len(question) > limit:
            yield f"The question is {len(question)} characters long; the limit is {limit}."
            return
        mine = private_of(request)
        chain = mine.chain if mine else service.chain
        try:
            prepared = chain.prepare(question)
        except (QueueFullError, LLMError) as exc:  # busy, or shutting down
            yield f"Sorry: {exc}"
            return
        quote = format_evidence(prepared.evidence)
        text = ""
        try:
            if prepared.stream is not None:
                yield f"…{quote}"  # the proof first, while the model writes
                prepared.stream.wait_started(service.settings.queue_timeout_s)
                for token in prepared.stream:
                    text += token
                    yield text + quote
        except (QueueTimeoutError, LLMError) as exc:
            yield f"Sorry: {exc}"
            return
        finally:  # the visitor stopped or left: free the LLM at once
            if prepared.stream is not None:
                prepared.stream.cancel()
        answer = chain.finish(prepared, text)
        proof = format_evidence(answer.evidence, answer.cited) + format_sources(answer)
        yield answer.answer + proof

    def upload(paths: list[str] | None, request: gr.Request) -> tuple[str, str]:
        mode = service.settings.uploads
        if mode == "off":  # the event stays callable: refuse here too
            return UPLOADS_OFF, index_status(service)
        if not paths:
            return "Choose one or more .md, .txt or .pdf files first.", index_status(service)
        if not service.ready:
            return "Still loading; try again in a moment.", index_status(service)
        limit = service.settings.max_upload_files
        mine = None
        if mode == "private":
            mine = private_of(request)
            if (mine.added if mine else 0) + len(paths) > limit:
                message = f"Your private collection holds at most {limit} documents."
                return message, index_status(service)
            mine = private_copy(mine, request)
        lines = []
        for path in paths:
            name = Path(path).name
            data = Path(path).read_bytes()
            if len(data) > service.settings.max_upload_bytes:
                lines.append(f"- `{name}`: larger than {service.settings.max_upload_mb:g} MB")
                continue
            try:
                if mine is not None:
                    result = ingest_bytes(mine.chain.index, name, data, service.settings)
                    mine.added += result.status != "skipped"
                else:
                    result = service.add_document(name, data)
                lines.append(f"- `{name}`: {result.status} ({result.chunks} chunks)")
            except DocumentError as exc:
                lines.append(f"- `{name}`: not added, {exc}")
        if mine is not None:
            lines.append("\nOnly your answers use them.")
        return "\n".join(lines), index_status(service)

    with gr.Blocks(title="RAG Space: ask the deployment notes", analytics_enabled=False) as demo:
        gr.Markdown(
            "# Ask the deployment notes\n"
            "Answers come only from the indexed documents. Under each answer is the sentence it "
            "rests on, quoted from its source; when nothing in the documents is relevant enough, "
            'the answer is "I don\'t know".'
        )
        status = gr.Markdown(index_status(service))
        with gr.Row():
            with gr.Column(scale=3):
                gr.ChatInterface(
                    respond,
                    examples=EXAMPLES,
                    cache_examples=False,
                    api_name="chat",
                    api_visibility=UI_ONLY,
                    chatbot=gr.Chatbot(height=460, label="Answers"),
                    textbox=gr.Textbox(
                        placeholder="Ask about deploying ML models...", label="Question"
                    ),
                    fill_height=False,
                )
            with gr.Column(scale=1):
                uploads = service.settings.uploads != "off"
                files = gr.File(
                    label="Add documents (.md, .txt, .pdf)",
                    file_count="multiple",
                    file_types=list(SUPPORTED),
                    type="filepath",
                    visible=uploads,
                )
                add = gr.Button("Add to the index", variant="secondary", visible=uploads)
                notes = {"off": UPLOADS_OFF, "private": UPLOADS_PRIVATE, "shared": ""}
                log = gr.Markdown(notes[service.settings.uploads])
        add.click(upload, files, [log, status], api_name="upload", api_visibility=UI_ONLY)
        demo.unload(forget)
        demo.load(
            lambda: index_status(service),
            None,
            status,
            api_name="index_status",
            api_visibility=UI_ONLY,
        )
        add_tools(service)  # the public API and MCP tools: search and ask
    return demo
