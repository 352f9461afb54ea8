"""API keys, rate limits and the one error body, on the real app and on the real Space."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import free_port, serve
from fastapi.testclient import TestClient
from gradio_client import Client
from gradio_client.exceptions import AppError
from iris.conftest import SPACE, UNLIMITED, UNLIMITED_ENV
from mcp_client import call_tool, json_of

from iris_app.api import create_app
from iris_app.schemas import SETOSA
from iris_app.settings import Settings

KEYS = "old-key-4f1e,new-key-9a7c"  # two keys during a rotation
API_CALLS = [
    ("POST", "/predict", {"json": SETOSA}),
    ("POST", "/predict/batch", {"json": {"items": [SETOSA]}}),
    ("GET", "/model", {}),
    ("GET", "/metrics", {}),
]
OPEN = ["/health", "/ready", "/docs", "/openapi.json", "/redoc"]


@pytest.fixture(scope="module")
def keyed() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(api_key=KEYS, **UNLIMITED))) as client:
        yield client


@pytest.mark.parametrize(("method", "path", "kwargs"), API_CALLS)
def test_without_a_key_every_api_route_is_401(
    keyed: TestClient, method: str, path: str, kwargs: dict
) -> None:
    response = keyed.request(method, path, **kwargs)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "message": "This API needs a key: send it as 'Authorization: Bearer <key>' or "
        "'X-API-Key: <key>'.",
        "detail": None,
    }
    wrong = keyed.request(method, path, headers={"X-API-Key": "guess"}, **kwargs)
    assert wrong.status_code == 401
    assert wrong.json()["message"] == "The API key is not valid."


@pytest.mark.parametrize(("method", "path", "kwargs"), API_CALLS)
@pytest.mark.parametrize("key", KEYS.split(","))
def test_either_key_in_either_header_opens_every_route(
    keyed: TestClient, method: str, path: str, kwargs: dict, key: str
) -> None:
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        assert keyed.request(method, path, headers=headers, **kwargs).status_code == 200


@pytest.mark.parametrize("path", OPEN)
def test_health_ready_and_docs_stay_open(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_without_a_key_setting_the_api_is_open(client: TestClient) -> None:
    assert client.post("/predict", json=SETOSA).status_code == 200


def test_plain_api_key_is_read_as_a_space_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "from-secret")
    assert Settings().api_key.get_secret_value() == "from-secret"
    monkeypatch.setenv("IRIS_API_KEY", "prefixed")
    assert Settings().api_key.get_secret_value() == "prefixed"


def test_bare_port_is_still_read_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PORT", "7999")
    assert Settings().port == 7999
    assert "rename it IRIS_PORT" in caplog.text
    monkeypatch.setenv("IRIS_PORT", "7998")
    assert Settings().port == 7998


def test_a_bad_rate_limit_stops_start_up_naming_it() -> None:
    with pytest.raises(ValueError, match="'12/fortnight' for /predict is not like 60/minute"):
        Settings(rate_limits={"/predict": "12/fortnight"})


def test_the_limit_answers_429_with_retry_after() -> None:
    settings = Settings(rate_limit="none", rate_limits={"/predict": "3/minute"})
    with TestClient(create_app(settings)) as client:
        assert [client.post("/predict", json=SETOSA).status_code for _ in range(3)] == [200] * 3
        refused = client.post("/predict", json=SETOSA)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        body = refused.json()
        assert body["message"].startswith("Too many requests to /predict; retry in ")
        assert body["detail"] == {"retry_after": int(refused.headers["retry-after"])}
        # other routes have their own budget; health is never limited
        assert client.post("/predict/batch", json={"items": [SETOSA]}).status_code == 200
        assert all(client.get("/health").status_code == 200 for _ in range(5))


def test_x_forwarded_for_counts_only_behind_a_trusted_proxy() -> None:
    def statuses(trusted: int) -> list[int]:
        limits = {"rate_limit": "1/minute", "rate_limits": {}, "trusted_proxies": trusted}
        with TestClient(create_app(Settings(**limits))) as client:
            # each client forges its own first entry; the proxy appends the address it saw
            return [
                client.get(
                    "/model", headers={"X-Forwarded-For": f"6.6.6.6, 10.0.0.{n}"}
                ).status_code
                for n in (1, 2, 1)
            ]

    assert statuses(trusted=0) == [200, 429, 429]  # one peer: one client, whatever the header
    assert statuses(trusted=1) == [200, 200, 429]  # two clients, as the proxy saw them


def test_every_error_has_the_same_body(client: TestClient) -> None:
    for response in (
        client.get("/no-such-route"),
        client.get("/predict"),  # 405
        client.post("/predict", json={}),  # 422
        client.post("/predict", content=b"x" * 300_000),  # 413
    ):
        assert response.status_code >= 400
        body = response.json()
        assert set(body) == {"message", "detail"}
        assert isinstance(body["message"], str)
        assert body["message"]


@pytest.fixture(scope="module")
def keyed_space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The whole Space (API, Gradio UI, MCP) with API_KEY set as a Space secret."""
    copy = tmp_path_factory.mktemp("keyed") / SPACE.name
    shutil.copytree(SPACE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"IRIS_PORT": str(port), "PYTHONPATH": "", "API_KEY": KEYS, **UNLIMITED_ENV}
    with serve([sys.executable, "app.py"], cwd=copy, env=env, ready_url=f"{url}/ready"):
        yield url


def test_keyed_space_keeps_its_ui_open_and_its_mcp_server_keyed(keyed_space: str) -> None:
    assert httpx.get(f"{keyed_space}/", timeout=10).status_code == 200  # the visitor's UI
    config = httpx.get(f"{keyed_space}/config", timeout=10)
    assert config.status_code == 200
    assert httpx.post(f"{keyed_space}/predict", json=SETOSA, timeout=10).status_code == 401
    mcp = httpx.post(f"{keyed_space}/gradio_api/mcp/", json={}, timeout=10)
    assert mcp.status_code == 401
    assert mcp.json()["message"].startswith("This API needs a key")
    key = {"X-API-Key": KEYS.split(",")[1]}
    assert httpx.post(f"{keyed_space}/predict", json=SETOSA, headers=key).status_code == 200


def test_keyed_space_tool_needs_the_key_over_mcp_and_gradio_client(keyed_space: str) -> None:
    key = {"Authorization": f"Bearer {KEYS.split(',')[0]}"}
    result = json_of(call_tool(f"{keyed_space}/gradio_api/mcp/", "predict", SETOSA, key))
    assert result["species"] == "setosa"
    with pytest.raises(AppError, match="needs the Space's API key"):
        Client(keyed_space + "/", verbose=False).predict(**SETOSA, api_name="/predict")
    keyed_client = Client(keyed_space + "/", verbose=False, headers=key)
    assert json.loads(keyed_client.predict(**SETOSA, api_name="/predict"))["species"] == "setosa"


def test_every_answer_carries_a_request_id(keyed: TestClient) -> None:
    """The client's own id when it is plain, else a fresh one; on refusals too."""
    mine = {"X-Request-ID": "client-req_42.a:b"}
    assert keyed.get("/health", headers=mine).headers["x-request-id"] == "client-req_42.a:b"
    refused = keyed.get("/model", headers=mine)  # 401 from the guard
    assert refused.headers["x-request-id"] == "client-req_42.a:b"
    fresh = keyed.get("/no-such-route").headers["x-request-id"]
    assert len(fresh) == 32
    assert fresh != keyed.get("/health").headers["x-request-id"]
    for forged in ("has spaces", "x" * 129, "a}{b"):
        given = keyed.get("/health", headers={"X-Request-ID": forged}).headers["x-request-id"]
        assert given != forged
        assert len(given) == 32


def json_lines(folders: list[Path]) -> list[dict]:
    """The JSON log lines of the servers that `conftest.serve` started in these folders."""
    lines = []
    for folder in folders:
        for log in folder.glob(".server-*.log"):
            lines += [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    return lines


def test_the_live_server_logs_json_lines_with_the_request_id_and_no_key(
    keyed_space: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    key = KEYS.split(",")[0]
    headers = {"X-Request-ID": "log-check-7", "X-API-Key": key}
    assert httpx.get(f"{keyed_space}/metrics", headers=headers, timeout=10).status_code == 200
    lines = json_lines(list(tmp_path_factory.getbasetemp().glob("keyed*/*")))
    access = [x for x in lines if x.get("request_id") == "log-check-7"]
    assert access, "no log line carries the request id"
    assert {"time", "level", "logger", "message"} <= set(access[0])
    assert all(key not in json.dumps(x) for x in lines)


def test_probes_answered_below_400_are_neither_logged_nor_counted(
    keyed_space: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A platform probes every few seconds: /health and /ready stay out of the access log and
    the HTTP metrics, unless they fail (a probe with a wrong method is both)."""
    headers = {"X-API-Key": KEYS.split(",")[0]}

    def health_count() -> float:
        text = httpx.get(f"{keyed_space}/metrics", headers=headers, timeout=10).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("http_requests_total{") and 'handler="/health"' in line
        )

    before = health_count()
    for path in ("/health", "/ready"):
        ok = httpx.get(f"{keyed_space}{path}", headers={"X-Request-ID": "probe-ok"}, timeout=10)
        assert ok.status_code == 200
    wrong = httpx.post(f"{keyed_space}/health", headers={"X-Request-ID": "probe-bad"}, timeout=10)
    assert wrong.status_code == 405  # the guard's, not the UI's bare 404
    assert wrong.headers["allow"] == "GET"
    assert wrong.json()["message"] == "Method not allowed: /health takes GET, not POST."
    assert health_count() == before + 1  # the refused probe only
    lines = json_lines(list(tmp_path_factory.getbasetemp().glob("keyed*/*")))
    logged = {x.get("request_id") for x in lines}
    assert "probe-bad" in logged
    assert "probe-ok" not in logged


def test_a_bug_is_a_500_with_the_error_body_and_nothing_of_the_request() -> None:
    """A route that fails (added for the test to the real app) answers like every other error."""
    app = create_app(Settings(**UNLIMITED))

    @app.post("/fails")
    def fails(body: dict) -> None:
        raise RuntimeError(f"bug while handling {body['text']}")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/fails", json={"text": "private visitor words"})
        assert response.status_code == 500
        assert response.json() == {
            "message": "Internal server error; the failure was logged.",
            "detail": None,
        }
        assert "x-request-id" in response.headers
        assert client.post("/predict", json=SETOSA).status_code == 200  # still serving
