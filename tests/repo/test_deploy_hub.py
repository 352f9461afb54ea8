"""`deploy` for real, against a stand-in for the Hub's HTTP API on loopback.

The Hub cannot be reached from here, so a small server speaks the part of its API that
HfApi uses (create repo, list files, preupload, commit, runtime, logs, space info). The deploy
command runs unchanged as a subprocess, exactly as in the workflow, pointed at it by HF_ENDPOINT.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from bench.browser import static_server
from scripts.space_deploy import space_host

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "hf_StandInSecret0123456789abcdefXYZ"
NEW_SHA = "c0ffee" * 6 + "beef"


class HubState:
    """What the stand-in Hub holds and what it was asked."""

    def __init__(self, stages: list[str]) -> None:
        self.files: dict[str, bytes] = {".gitattributes": b"*.bin filter=lfs\n", "stale.py": b"x"}
        self.stages = stages  # runtime stages to report, one per poll; the last one repeats
        self.created: list[dict[str, Any]] = []
        self.commits: list[dict[str, Any]] = []
        self.validated: list[str] = []
        self.auth: set[str] = set()
        self.health_hits = 0
        self.host = ""  # where space_info says the Space is served; set by the hub fixture
        self.lock = threading.Lock()

    def next_stage(self) -> str:
        """The stage of this poll."""
        with self.lock:
            return self.stages.pop(0) if len(self.stages) > 1 else self.stages[0]


def make_handler(state: HubState, port: int) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to `state`."""

    class Hub(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            return

        def reply(self, status: int, body: Any, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self) -> None:
            state.auth.add(self.headers.get("Authorization", ""))
            path = urlparse(self.path).path
            if path == "/app/health":
                state.health_hits += 1
                return self.reply(200, {"status": "ok"})
            if "/tree/" in path:
                files = [
                    {"type": "file", "path": p, "oid": "0", "size": len(b)}
                    for p, b in state.files.items()
                ]
                return self.reply(200, files)
            if path.endswith("/runtime"):
                stage = state.next_stage()
                sha = NEW_SHA if stage != "RUNNING_OLD" else "old"
                stage = "RUNNING" if stage == "RUNNING_OLD" else stage
                return self.reply(
                    200, {"stage": stage, "sha": sha, "hardware": {"current": "cpu-basic"}}
                )
            if "/logs/" in path:
                kind = path.rsplit("/", 1)[1]
                lines = [f"{kind} step {i}: pip install failed\n" for i in range(3)]
                events = "".join(
                    f"data: {json.dumps({'data': line, 'timestamp': 't'})}\n\n" for line in lines
                )
                return self.reply(200, events.encode(), "text/event-stream")
            if path.startswith("/api/spaces/"):
                repo_id = path.removeprefix("/api/spaces/")
                return self.reply(200, {"id": repo_id, "host": state.host, "private": False})
            return self.reply(404, {"error": f"stand-in Hub has no GET {path}"})

        def do_POST(self) -> None:
            state.auth.add(self.headers.get("Authorization", ""))
            path = urlparse(self.path).path
            if path == "/api/repos/create":
                created = json.loads(self.body())
                state.created.append(created)
                repo_id = f"{created['organization']}/{created['name']}"
                return self.reply(200, {"url": f"http://127.0.0.1:{port}/spaces/{repo_id}"})
            if path == "/api/validate-yaml":
                state.validated.append(json.loads(self.body())["content"])
                return self.reply(200, {"errors": [], "warnings": []})
            if "/preupload/" in path:
                files = json.loads(self.body())["files"]
                modes = [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                    for f in files
                ]
                return self.reply(200, {"files": modes})
            if "/commit/" in path:
                ops = [json.loads(line) for line in self.body().splitlines() if line.strip()]
                state.commits.append({"ops": ops})
                for op in ops:
                    if op["key"] == "file":
                        state.files[op["value"]["path"]] = base64.b64decode(op["value"]["content"])
                    elif op["key"] == "deletedFile":
                        state.files.pop(op["value"]["path"], None)
                repo_id = path.removeprefix("/api/spaces/").split("/commit/")[0]
                url = f"http://127.0.0.1:{port}/spaces/{repo_id}/commit/{NEW_SHA}"
                return self.reply(200, {"commitUrl": url, "commitOid": NEW_SHA, "success": True})
            return self.reply(404, {"error": f"stand-in Hub has no POST {path}"})

    return Hub


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def hub(request: pytest.FixtureRequest) -> Iterator[tuple[HubState, str]]:
    """A running stand-in Hub; its runtime stages come from the test's parameter."""
    port = free_port()
    state = HubState(list(request.param))
    state.host = f"http://127.0.0.1:{port}/app"
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(state, port))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{port}"
    server.shutdown()


def deploy(endpoint: str, name: str) -> subprocess.CompletedProcess[str]:
    """`python scripts/spaces.py deploy NAME --owner tester` against the stand-in Hub."""
    # The stand-in Hub is reachable: other tests' offline switches must not leak in
    # (huggingface_hub honours TRANSFORMERS_OFFLINE too).
    offline = {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"}
    inherited = {k: v for k, v in os.environ.items() if k not in offline}
    env = {**inherited, "HF_TOKEN": TOKEN, "HF_ENDPOINT": endpoint}
    args = ["--spaces-dir", str(FIXTURES), "deploy", name, "--owner", "tester"]
    args += ["--timeout", "60", "--poll", "0.2"]
    return subprocess.run(
        [sys.executable, "scripts/spaces.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# RUNNING_OLD: the previous commit still runs right after the upload; it must not count.
DEPLOYS = [["RUNNING_OLD", "BUILDING", "APP_STARTING", "RUNNING"]]


@pytest.mark.parametrize("hub", DEPLOYS, indirect=True)
def test_deploy_creates_uploads_waits_and_smoke_tests(hub: tuple[HubState, str]) -> None:
    state, endpoint = hub
    result = deploy(endpoint, "good-docker")
    assert result.returncode == 0, result.stdout + result.stderr
    (created,) = state.created
    assert (created["organization"], created["name"]) == ("tester", "good-docker")
    assert (created["type"], created["sdk"]) == ("space", "docker")  # not the Hub's gradio default
    committed = subprocess.run(
        ["git", "ls-files", "."],
        cwd=FIXTURES / "good-docker",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert set(state.files) == {*committed, ".gitattributes"}  # stale.py deleted
    assert state.files["Dockerfile"] == (FIXTURES / "good-docker" / "Dockerfile").read_bytes()
    assert len(state.commits) == 1
    assert any("sdk: docker" in content for content in state.validated)
    polls = [line for line in result.stdout.splitlines() if line.startswith("  tester/")]
    stages = [line.split(": ")[-1] for line in polls]
    assert stages[:4] == ["RUNNING", "BUILDING", "APP_STARTING", "RUNNING"]
    assert state.health_hits >= 1
    assert f"Bearer {TOKEN}" in state.auth
    assert TOKEN not in result.stdout + result.stderr


@pytest.mark.parametrize("hub", [["BUILDING", "BUILD_ERROR"]], indirect=True)
def test_build_error_prints_the_logs_and_exits_1(hub: tuple[HubState, str]) -> None:
    state, endpoint = hub
    result = deploy(endpoint, "good-docker")
    assert result.returncode == 1
    assert "ended in stage BUILD_ERROR" in result.stderr
    assert "build step 2: pip install failed" in result.stderr
    assert state.health_hits == 0
    assert TOKEN not in result.stdout + result.stderr


@pytest.fixture
def gradio_space(tmp_path: Path) -> Iterator[str]:
    """The good-gradio fixture served for real by Gradio on loopback, as the Space would run it."""
    folder = tmp_path / "good-gradio"
    shutil.copytree(FIXTURES / "good-gradio", folder)
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    log = (tmp_path / "gradio.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "gradio.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "gradio did not start in 120 s"
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


@pytest.mark.slow
@pytest.mark.parametrize("hub", [["BUILDING", "RUNNING"]], indirect=True)
def test_gradio_space_is_smoke_tested_with_gradio_client(
    hub: tuple[HubState, str], gradio_space: str
) -> None:
    state, endpoint = hub
    state.host = gradio_space  # space_info answers with the real Gradio server's address
    result = deploy(endpoint, "good-gradio")
    assert result.returncode == 0, result.stdout + result.stderr
    assert state.created[0]["sdk"] == "gradio"
    assert "smoke test passed: gradio_client.Client('tester/good-gradio')" in result.stdout
    assert TOKEN not in result.stdout + result.stderr


@pytest.mark.parametrize("hub", [["BUILDING", "RUNNING"]], indirect=True)
def test_static_space_is_created_static_and_its_page_smoke_tested(
    hub: tuple[HubState, str],
) -> None:
    """A static Space: created with sdk static, its committed files uploaded (the build step makes
    vendor/), and its page fetched from where space_info says it is served."""
    state, endpoint = hub
    folder = FIXTURES / "good-static"
    with static_server(folder) as url:  # the page, served as plain files
        state.host = url.rstrip("/")
        result = deploy(endpoint, "good-static")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (state.created[0]["type"], state.created[0]["sdk"]) == ("space", "static")
    assert any("sdk: static" in content for content in state.validated)
    committed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "."],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "package-lock.json" in committed
    assert set(state.files) == {*committed, ".gitattributes"}
    assert f"smoke test passed: GET {space_host('tester/good-static', 'static')}/" in result.stdout
    assert TOKEN not in result.stdout + result.stderr
