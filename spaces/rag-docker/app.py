"""The Space's entry point: the FastAPI API with the Gradio UI mounted at /, served by uvicorn.

The Gradio app also serves its MCP server (`search`, `ask`) at /gradio_api/mcp/.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr
import uvicorn

from rag_app.api import create_app
from rag_app.index import IndexLoadError, verify_index
from rag_app.llm import LLMError, check_gguf, resolve_gguf
from rag_app.observability import configure_logging
from rag_app.service import RagService
from rag_app.settings import get_settings
from rag_app.ui import build_ui

settings = get_settings()
service = RagService(settings)
ui = build_ui(service)
app = gr.mount_gradio_app(
    create_app(settings, service), ui, path="/", ssr_mode=False, mcp_server=True
)

if __name__ == "__main__":
    try:  # a missing, corrupt or foreign index stops here with one clear line, not a traceback
        verify_index(settings.rag_index_dir, settings.embedding_name)
    except IndexLoadError as exc:
        sys.exit(f"error: {exc}")
    if not settings.openai_base_url:  # a missing or broken GGUF: one line naming the file
        try:
            check_gguf(resolve_gguf(settings))
        except LLMError as exc:
            sys.exit(
                f"error: {exc}. Point RAG_LLM_MODEL_PATH at a GGUF model, or unset it to use "
                "RAG_LLM_REPO_ID or the packaged SmolLM2."
            )
    configure_logging()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            timeout_graceful_shutdown=settings.shutdown_timeout_s,
        )
    )
    # On SIGTERM uvicorn stops accepting and lets requests in flight finish (at most
    # RAG_SHUTDOWN_TIMEOUT_S); the API ends a generation still running 1 s before that with a
    # clear error. uvicorn then raises the signal again: ignored, so the process exits 0.
    app.state.stopping = lambda: server.should_exit
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    server.run()
    if not server.started:  # the lifespan failed (uvicorn.run exits 3 then, too)
        sys.exit(3)
    # Drained and shut down: nothing is left to clean up, so skip the interpreter's teardown of a
    # large heap (measured 2-7 s on a busy machine), which would push the exit past the 10 s a
    # platform waits after SIGTERM before it kills.
    logging.shutdown()
    os._exit(0)
