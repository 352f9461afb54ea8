"""One image, several commands: `python -m sentiment_app [ui|api|health] [--port N]`.

- `ui` (default): the Streamlit demo on 8501 (the Space's app_port);
- `api`: the FastAPI app on 8000;
- `health`: exit 0 when either server answers on localhost (the image's HEALTHCHECK).

Without a model to load (no local folder, and the Hub unreachable), `ui` and `api` stop with one
line saying how to build one.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.request
from pathlib import Path

from sentiment_app.model import unavailable
from sentiment_app.settings import get_settings

HERE = Path(__file__).resolve().parent.parent
PORTS = {"ui": 8501, "api": 8000}


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
    parser.add_argument("--port", type=int, help="default: 8501 for ui, 8000 for api")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")
    args = parser.parse_args(argv)
    if args.command == "health":
        urls = ["http://127.0.0.1:8501/_stcore/health", "http://127.0.0.1:8000/health"]
        sys.exit(0 if any(_alive(u) for u in urls) else 1)
    problem = unavailable(get_settings())
    if problem:  # one clear line before a server starts, not a traceback from inside it
        sys.exit(f"error: {problem}")
    port = str(args.port or PORTS[args.command])
    if args.command == "api":
        cmd = ["-m", "uvicorn", "sentiment_app.api:app", "--host", args.host, "--port", port]
    else:
        upload_mb = str(get_settings().max_upload_mb)
        cmd = [
            "-m",
            "streamlit",
            "run",
            str(HERE / "app.py"),
            "--server.port",
            port,
            "--server.address",
            args.host,
            "--server.headless",
            "true",
            "--server.maxUploadSize",
            upload_mb,
            "--browser.gatherUsageStats",
            "false",
        ]
    os.chdir(HERE)
    os.execv(sys.executable, [sys.executable, *cmd])


if __name__ == "__main__":
    main()
