"""One image, several commands: `python -m sentiment_app [ui|api|health] [--port N]`.

- `ui` (default): the Streamlit demo on SENTIMENT_UI_PORT (8501, the Space's app_port);
- `api`: the FastAPI app (`create_app`) on SENTIMENT_PORT (8000); on SIGTERM it stops accepting,
  lets requests in flight finish (at most SENTIMENT_SHUTDOWN_TIMEOUT_S) and exits 0;
- `health`: exit 0 when either server answers on localhost (the image's HEALTHCHECK).

`--host` and `--port` override SENTIMENT_HOST and the port of the chosen server.

Without a model to load (no local folder, and the Hub unreachable), `ui` and `api` stop with one
line saying how to build one; `api` loads the model before it listens, so a broken model file
stops it with one line naming the file, not a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import urllib.request
from pathlib import Path

from sentiment_app.model import unavailable
from sentiment_app.settings import get_settings

HERE = Path(__file__).resolve().parent.parent


def _alive(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except OSError:
        return False


def main(argv: list[str] | None = None) -> None:
    """Start the chosen server in this process (exec), or probe health."""
    parser = argparse.ArgumentParser(prog="python -m sentiment_app", description=__doc__)
    parser.add_argument("command", nargs="?", default="ui", choices=["ui", "api", "health"])
    parser.add_argument("--port", type=int, help="default: SENTIMENT_UI_PORT or SENTIMENT_PORT")
    parser.add_argument("--host", help="address to listen on (default: SENTIMENT_HOST)")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "health":
        urls = [
            f"http://127.0.0.1:{args.port or settings.ui_port}/_stcore/health",
            f"http://127.0.0.1:{args.port or settings.port}/health",
        ]
        sys.exit(0 if any(_alive(u) for u in urls) else 1)
    problem = unavailable(settings)
    if problem:  # one clear line before a server starts, not a traceback from inside it
        sys.exit(f"error: {problem}")
    host = args.host or settings.host
    os.chdir(HERE)
    if args.command == "api":  # in this process: JSON log lines, uvicorn's included
        import uvicorn

        from sentiment_app.api import create_app
        from sentiment_app.model import load_model
        from sentiment_app.observability import configure_logging

        configure_logging()
        try:
            model = load_model(settings)
        except (OSError, RuntimeError, ValueError) as exc:
            sys.exit(f"error: {exc}")
        # uvicorn drains on SIGTERM, then raises the signal again: ignored, the process exits 0.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        uvicorn.run(
            create_app(settings, model=model),
            host=host,
            port=args.port or settings.port,
            log_config=None,
            timeout_graceful_shutdown=settings.shutdown_timeout_s,
        )
        # Drained and shut down: nothing is left to clean up, so skip the interpreter's teardown
        # of a large heap (seconds on a busy machine), which could push the exit past the 10 s a
        # platform waits after SIGTERM before it kills.
        logging.shutdown()
        os._exit(0)
    port = str(args.port or settings.ui_port)
    upload_mb = str(settings.max_upload_mb)
    cmd = [
        "-m",
        "streamlit",
        "run",
        str(HERE / "app.py"),
        "--server.port",
        port,
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--server.maxUploadSize",
        upload_mb,
        "--browser.gatherUsageStats",
        "false",
    ]
    os.execv(sys.executable, [sys.executable, *cmd])


if __name__ == "__main__":
    main()
