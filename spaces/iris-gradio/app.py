"""The Space's entry point: the FastAPI API with the Gradio UI mounted at /, on $PORT.

The Gradio app also serves its MCP server (`predict`) at /gradio_api/mcp/.
"""

import logging
import os
import signal
import sys

import uvicorn
from gradio import mount_gradio_app

from iris_app.api import create_app
from iris_app.model import IrisModel, ModelLoadError
from iris_app.observability import configure_logging
from iris_app.settings import get_settings
from iris_app.ui import build_ui

settings = get_settings()
api = create_app(settings)
keys = settings.api_key.get_secret_value() if settings.api_key else None
ui = build_ui(lambda: getattr(api.state, "model", None), keys)
app = mount_gradio_app(api, ui, path="/", mcp_server=True)

if __name__ == "__main__":
    try:  # a missing or broken artifact stops here with one clear line, not a traceback
        IrisModel.load(settings.model_path, settings.metadata_path)
    except ModelLoadError as exc:
        sys.exit(
            f"error: {exc}. Rebuild it with `python -m iris_app.train`, or point "
            "IRIS_MODEL_PATH and IRIS_METADATA_PATH at a trained model."
        )
    configure_logging()
    # On SIGTERM uvicorn stops accepting, lets requests in flight finish (at most
    # IRIS_SHUTDOWN_TIMEOUT_S), then raises the signal again: ignored, so the process exits 0.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
    )
    # Drained and shut down: nothing is left to clean up, so skip the interpreter's teardown of a
    # large heap (measured 2-7 s on a busy machine), which would push the exit past the 10 s a
    # platform waits after SIGTERM before it kills.
    logging.shutdown()
    os._exit(0)
