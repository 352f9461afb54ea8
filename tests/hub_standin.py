"""Loopback stand-ins for the Hugging Face Hub's HTTP API and GitHub Actions' OIDC token service.

Neither can be reached from here, so these small servers speak the part of each API that
huggingface_hub uses: repos, commits, Space runtime, settings (hardware, sleep time, variables,
secret names), logs and the Trusted Publishers token exchange (POST /oauth/token, RFC 8693);
and GitHub's ACTIONS_ID_TOKEN_REQUEST_URL, which mints an OIDC id token for an audience.
The deploy tool runs unchanged against them, pointed there by HF_ENDPOINT.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from bench.servers import free_port

REPO = Path(__file__).resolve().parents[1]
TOKEN = "hf_StandInSecret0123456789abcdefXYZ"  # a user's write token (HF_TOKEN)
EXCHANGED = "hf_jwt_StandInExchanged0123456789abcdef"  # what /oauth/token gives back
REQUEST_TOKEN = "ghs_StandInRequestToken0123456789abcd"  # ACTIONS_ID_TOKEN_REQUEST_TOKEN
ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.StandInGitHubIdToken.c2lnbmF0dXJl"  # GitHub's OIDC id token
SECRETS = (TOKEN, EXCHANGED, REQUEST_TOKEN, ID_TOKEN)
NEW_SHA = "c0ffee" * 6 + "beef"
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"


@dataclass
class HubState:
    """What the stand-in Hub holds and what it was asked."""

    stages: list[str]  # runtime stages to report, one per poll; the last one repeats
    spaces: set[str] = field(default_factory=set)  # repo ids that exist
    files: dict[str, bytes] = field(
        default_factory=lambda: {".gitattributes": b"*.bin filter=lfs\n", "stale.py": b"x"}
    )
    hardware: str | None = "cpu-basic"
    requested: str | None = "cpu-basic"
    sleep_time: int | None = None
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)
    validated: list[str] = field(default_factory=list)
    settings_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, auth
    health_hits: int = 0
    host: str = ""  # where space_info says the Space is served
    scopes: dict[str, str] = field(default_factory=dict)  # exchanged token -> its resource
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def auth(self) -> set[str]:
        """Every Authorization header received."""
        return {auth for _, _, auth in self.requests}

    def next_stage(self) -> str:
        """The stage of this poll: the first one until a commit arrives, then one per poll."""
        with self.lock:
            if self.commits and len(self.stages) > 1:
                return self.stages.pop(0)
            return self.stages[0]

    def runtime(self) -> dict[str, Any]:
        """The runtime document (stage not included)."""
        hardware = {"current": self.hardware, "requested": self.requested}
        return {"hardware": hardware, "gcTimeout": self.sleep_time, "devMode": False}


def _space_id(path: str) -> tuple[str, str]:
    """('owner/name', rest) of /api/spaces/owner/name[/rest...]."""
    parts = path.removeprefix("/api/spaces/").split("/")
    return "/".join(parts[:2]), "/".join(parts[2:])


def make_handler(state: HubState, port: int) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to `state`."""

    class Hub(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            return

        def reply(self, status: int, body: Any, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if status == 404:
                self.send_header("X-Error-Code", "RepoNotFound")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def allowed(self, repo_id: str | None) -> bool:
            """A user token may do anything; an exchanged one only touches its own Space."""
            auth = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if auth == TOKEN:
                return True
            return repo_id is not None and state.scopes.get(auth) == f"spaces/{repo_id}"

        def record(self, method: str) -> str:
            path = urlparse(self.path).path
            state.requests.append((method, path, self.headers.get("Authorization", "")))
            return path

        def do_GET(self) -> None:
            path = self.record("GET")
            if path == "/app/health":
                state.health_hits += 1
                return self.reply(200, {"status": "ok"})
            if not path.startswith("/api/spaces/"):
                return self.reply(404, {"error": f"stand-in Hub has no GET {path}"})
            repo_id, rest = _space_id(path)
            if repo_id not in state.spaces:
                return self.reply(404, {"error": "Repository not found"})
            if rest.startswith("tree/"):
                files = [
                    {"type": "file", "path": p, "oid": "0", "size": len(b)}
                    for p, b in state.files.items()
                ]
                return self.reply(200, files)
            if rest == "runtime":
                stage = state.next_stage()
                sha = NEW_SHA if stage != "RUNNING_OLD" else "old"
                stage = "RUNNING" if stage == "RUNNING_OLD" else stage
                return self.reply(200, {"stage": stage, "sha": sha, **state.runtime()})
            if rest.startswith("logs/"):
                kind = rest.rsplit("/", 1)[1]
                lines = [f"{kind} step {i}: pip install failed\n" for i in range(3)]
                events = "".join(
                    f"data: {json.dumps({'data': line, 'timestamp': 't'})}\n\n" for line in lines
                )
                return self.reply(200, events.encode(), "text/event-stream")
            if rest in ("variables", "secrets"):
                if not self.allowed(repo_id):
                    return self.reply(401, {"error": "Invalid credentials"})
                return self.reply(200, getattr(state, rest))
            if rest == "":
                return self.reply(200, {"id": repo_id, "host": state.host, "sha": NEW_SHA})
            return self.reply(404, {"error": f"stand-in Hub has no GET {path}"})

        def do_POST(self) -> None:
            path = self.record("POST")
            if path == "/oauth/token":
                return self.exchange(json.loads(self.body()))
            if path == "/api/validate-yaml":
                state.validated.append(json.loads(self.body())["content"])
                return self.reply(200, {"errors": [], "warnings": []})
            if path == "/api/repos/create":
                return self.create(json.loads(self.body()))
            repo_id, rest = _space_id(path)
            if not self.allowed(repo_id):
                return self.reply(403, {"error": "You don't have the rights to write here"})
            if rest.startswith("preupload/"):
                files = json.loads(self.body())["files"]
                modes = [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                    for f in files
                ]
                return self.reply(200, {"files": modes})
            if rest.startswith("commit/"):
                return self.commit(repo_id)
            if rest in ("hardware", "sleeptime", "variables"):
                return self.setting(rest, json.loads(self.body()))
            return self.reply(404, {"error": f"stand-in Hub has no POST {path}"})

        def exchange(self, body: dict[str, Any]) -> None:
            """RFC 8693: a GitHub id token for a short-lived token scoped to `resource`."""
            state.exchanges.append(body)
            if body.get("grant_type") != GRANT or body.get("subject_token") != ID_TOKEN:
                return self.reply(400, {"error": "invalid_grant"})
            state.scopes[EXCHANGED] = body["resource"]
            reply = {"access_token": EXCHANGED, "token_type": "bearer", "expires_in": 3600}
            return self.reply(200, reply)

        def create(self, created: dict[str, Any]) -> None:
            if not self.allowed(None):  # an exchanged token cannot create repositories
                return self.reply(403, {"error": "You don't have the rights to create a repo"})
            state.created.append(created)
            repo_id = f"{created['organization']}/{created['name']}"
            state.spaces.add(repo_id)
            return self.reply(200, {"url": f"http://127.0.0.1:{port}/spaces/{repo_id}"})

        def commit(self, repo_id: str) -> None:
            ops = [json.loads(line) for line in self.body().splitlines() if line.strip()]
            state.commits.append({"ops": ops})
            for op in ops:
                if op["key"] == "file":
                    state.files[op["value"]["path"]] = base64.b64decode(op["value"]["content"])
                elif op["key"] == "deletedFile":
                    state.files.pop(op["value"]["path"], None)
            url = f"http://127.0.0.1:{port}/spaces/{repo_id}/commit/{NEW_SHA}"
            return self.reply(200, {"commitUrl": url, "commitOid": NEW_SHA, "success": True})

        def setting(self, what: str, body: dict[str, Any]) -> None:
            state.settings_calls.append((what, body))
            if what == "hardware":
                state.requested = body["flavor"]
                state.sleep_time = body.get("sleepTimeSeconds", state.sleep_time)
            elif what == "sleeptime":
                state.sleep_time = body["seconds"]
            else:
                value = {"value": body["value"], "description": body.get("description")}
                state.variables[body["key"]] = value
                return self.reply(200, state.variables)
            return self.reply(200, {"stage": "RUNNING", **state.runtime()})

    return Hub


@contextmanager
def serve_handler(handler: type[BaseHTTPRequestHandler], port: int) -> Iterator[str]:
    """Serve `handler` on 127.0.0.1:`port` in a thread until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def running_hub(state: HubState) -> Iterator[str]:
    """The stand-in Hub for `state`; yields its endpoint (HF_ENDPOINT)."""
    port = free_port()
    state.host = state.host or f"http://127.0.0.1:{port}/app"
    with serve_handler(make_handler(state, port), port) as endpoint:
        yield endpoint


@dataclass
class GitHubState:
    """What the stand-in GitHub token service was asked: (query, Authorization) pairs."""

    requests: list[tuple[dict[str, list[str]], str]] = field(default_factory=list)


@contextmanager
def running_github() -> Iterator[tuple[GitHubState, str]]:
    """GitHub Actions' id-token service: GET with `Authorization: Bearer <request token>` and
    `audience=...` answers {"value": <id token>}. Yields its ACTIONS_ID_TOKEN_REQUEST_URL."""
    state = GitHubState()

    class GitHub(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            auth = self.headers.get("Authorization", "")
            state.requests.append((query, auth))
            ok = auth == f"Bearer {REQUEST_TOKEN}" and query.get("audience")
            data = json.dumps({"value": ID_TOKEN} if ok else {"message": "Bad credentials"})
            self.send_response(200 if ok else 401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data.encode())

    port = free_port()
    with serve_handler(GitHub, port) as url:
        yield state, f"{url}/_apis/pipelines/idtoken?api-version=2.0"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without tokens or offline switches (the stand-ins are reachable; other
    tests' HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE must not leak in), plus `extra`."""
    drop = {"HF_TOKEN", "HF_OWNER", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_OIDC_RESOURCE"}
    drop |= {"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GITHUB_ACTIONS"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def spaces_cli(*args: str, env: dict[str, str], cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`python scripts/spaces.py ARGS` as the workflow runs it."""
    return subprocess.run(
        [sys.executable, "scripts/spaces.py", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def leaked(result: subprocess.CompletedProcess) -> list[str]:
    """The stand-in secrets that appear in a command's output (none may)."""
    output = result.stdout + result.stderr
    return [secret for secret in SECRETS if secret in output]
