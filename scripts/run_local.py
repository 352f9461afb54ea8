"""`make run`: serve every Space locally with its real model, until Ctrl-C.

Each Space runs from its own folder exactly as on the Hub (its own command and port); the
sentiment Space's image serves two commands, so both run here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


@dataclass(frozen=True)
class Service:
    """One process of one Space."""

    name: str
    folder: str
    cmd: list[str]
    port: int
    path: str = "/"


SERVICES = [
    Service("iris-gradio (Gradio UI + API)", "iris-gradio", [PY, "app.py"], 7860),
    Service(
        "sentiment-streamlit (Streamlit demo)",
        "sentiment-streamlit",
        [
            PY,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            "8501",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        8501,
    ),
    Service(
        "sentiment-streamlit (API)",
        "sentiment-streamlit",
        [PY, "-m", "uvicorn", "sentiment_app.api:app", "--host", "0.0.0.0", "--port", "8000"],
        8000,
        "/docs",
    ),
    Service("rag-docker (Gradio chat + API)", "rag-docker", [PY, "app.py"], 7861),
]


def main() -> None:
    """Start every service, print where it answers, stop them all on Ctrl-C or if one dies."""
    procs: list[tuple[Service, subprocess.Popen]] = []
    for service in SERVICES:
        env = {**os.environ, "PORT": str(service.port), "GRADIO_ANALYTICS_ENABLED": "False"}
        proc = subprocess.Popen(service.cmd, cwd=REPO / "spaces" / service.folder, env=env)
        procs.append((service, proc))
    print("\nServing (Ctrl-C stops all):")
    for service, _ in procs:
        print(f"  {service.name:40} http://localhost:{service.port}{service.path}")
    try:
        while all(proc.poll() is None for _, proc in procs):
            time.sleep(0.5)
        dead = [s.name for s, p in procs if p.poll() is not None]
        print(f"stopped: {', '.join(dead)} exited", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for _, proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
