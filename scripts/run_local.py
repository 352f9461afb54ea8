"""`make run`: serve the Spaces locally with their real models, until Ctrl-C.

`make run` serves every Space; `make run SPACE=<name>` serves one (`PORT=<n>` moves it to port n,
the sentiment API to n+1). Each Space runs from its own folder with its own command, as on the Hub;
the sentiment image's two commands both run, and the static Spaces are served as plain files.

What can be checked before anything starts stops here with one line saying what to do: an
unknown Space, a taken port, a static Space whose npm files are not built. A Space whose model or
index is missing stops itself at start-up with such a line (its app.py, `python -m sentiment_app`).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


@dataclass(frozen=True)
class Service:
    """One process of one Space; `{port}` in `cmd` is replaced by its port."""

    space: str
    role: str
    cmd: list[str]
    port: int
    path: str = "/"
    needs: dict[str, str] = field(default_factory=dict)  # file in the folder -> how to build it


STATIC_NEEDS = {"vendor/.built": "make static"}
SERVICES = [
    Service("iris-gradio", "Gradio UI, API, MCP", [PY, "app.py"], 7860),
    Service("sentiment-streamlit", "Streamlit demo", [PY, "-m", "sentiment_app", "ui"], 8501),
    Service("sentiment-streamlit", "API, MCP", [PY, "-m", "sentiment_app", "api"], 8000, "/docs"),
    Service("rag-docker", "Gradio chat, API, MCP", [PY, "app.py"], 7861),
    Service("iris-static", "static page", [PY, "-m", "http.server"], 8081, needs=STATIC_NEEDS),
    Service("sentiment-static", "static page", [PY, "-m", "http.server"], 8082, needs=STATIC_NEEDS),
]
SPACE_NAMES = list(dict.fromkeys(s.space for s in SERVICES))


class StartError(Exception):
    """Nothing can start: one line saying what is wrong and what to do (exit code 2)."""


def port_in_use(port: int) -> bool:
    """True when some process listens on `port` (the Spaces bind every interface)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def plan(names: list[str], port: int | None) -> list[Service]:
    """The services to start, on their ports; StartError when they cannot start."""
    unknown = [n for n in names if n not in SPACE_NAMES]
    if unknown:
        raise StartError(f"unknown Space {unknown[0]!r}; choose one of: {', '.join(SPACE_NAMES)}")
    if port is not None and len(names) != 1:
        raise StartError(
            "PORT moves one Space: name it, as in make run SPACE=iris-gradio PORT=7870"
        )
    chosen = [s for s in SERVICES if not names or s.space in names]
    if port is not None:
        chosen = [
            Service(s.space, s.role, s.cmd, port + i, s.path, s.needs) for i, s in enumerate(chosen)
        ]
    for service in chosen:
        for needed, how in service.needs.items():
            if not (REPO / "spaces" / service.space / needed).exists():
                raise StartError(f"{service.space} is not built (no {needed}): run `{how}` first")
        if port_in_use(service.port):
            raise StartError(
                f"port {service.port} is in use, and {service.space} ({service.role}) needs it: "
                f"stop what listens there (ss -ltnp 'sport = :{service.port}'), or run the Space "
                f"elsewhere: make run SPACE={service.space} PORT=<free port>"
            )
    return chosen


def command(service: Service) -> list[str]:
    """The service's command line on its port."""
    if service.space == "sentiment-streamlit":
        return [*service.cmd, "--port", str(service.port)]
    if service.cmd[1:] == ["-m", "http.server"]:
        return [*service.cmd, str(service.port)]
    return service.cmd


def serve(services: list[Service]) -> int:
    """Start the services, print where they answer; stop all on Ctrl-C or when one exits."""
    procs: list[tuple[Service, subprocess.Popen]] = []
    for service in services:
        port = str(service.port)  # each Space reads its own prefixed name (sentiment: --port)
        env = {
            **os.environ,
            "IRIS_PORT": port,
            "RAG_PORT": port,
            "GRADIO_ANALYTICS_ENABLED": "False",
        }
        folder = REPO / "spaces" / service.space
        procs.append((service, subprocess.Popen(command(service), cwd=folder, env=env)))
    print("\nStarting (Ctrl-C stops all):", flush=True)
    for service, _ in procs:
        name = f"{service.space} ({service.role})"
        print(f"  {name:42} http://localhost:{service.port}{service.path}", flush=True)
    code = 0
    try:
        while all(proc.poll() is None for _, proc in procs):
            time.sleep(0.5)
        dead = [(s, p.returncode) for s, p in procs if p.poll() is not None]
        code = next((rc for _, rc in dead if rc), 1)
        stopped = ", ".join(f"{s.space} ({s.role}) exited with code {rc}" for s, rc in dead)
        print(f"stopped: {stopped}", file=sys.stderr)
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
    return code


def main(argv: list[str] | None = None) -> int:
    """Command line: `run_local.py [SPACE ...] [--port N]`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spaces", nargs="*", help=f"default: all ({', '.join(SPACE_NAMES)})")
    parser.add_argument("--port", type=int, help="port of the one Space named (its API: +1)")
    args = parser.parse_args(argv)
    try:
        services = plan(args.spaces, args.port)
    except StartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return serve(services)


if __name__ == "__main__":
    sys.exit(main())
