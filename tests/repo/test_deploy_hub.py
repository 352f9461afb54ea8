"""`deploy` for real, against a stand-in for the Hub's HTTP API on loopback (tests/hub_standin.py).

The deploy command runs unchanged as a subprocess, exactly as in the workflow, pointed at the
stand-in by HF_ENDPOINT.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_standin import TOKEN, HubState, clean_env, free_port, leaked, spaces_cli

from bench.browser import static_server
from scripts.space_deploy import space_host

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


def deploy(endpoint: str, name: str) -> subprocess.CompletedProcess[str]:
    """`python scripts/spaces.py deploy NAME --owner tester` against the stand-in Hub."""
    args = ["--spaces-dir", str(FIXTURES), "deploy", name, "--owner", "tester"]
    env = clean_env(HF_TOKEN=TOKEN, HF_ENDPOINT=endpoint)
    return spaces_cli(*args, "--timeout", "60", "--poll", "0.2", env=env)


# RUNNING_OLD: the previous commit still runs right after the upload; it must not count.
DEPLOYS = [["RUNNING_OLD", "BUILDING", "APP_STARTING", "RUNNING"]]


SECRET_SET = {"description": None, "updatedAt": "2026-12-01T00:00:00.000Z"}  # never a value


@pytest.mark.parametrize("hub", DEPLOYS, indirect=True)
def test_deploy_creates_uploads_waits_and_smoke_tests(hub: tuple[HubState, str]) -> None:
    state, endpoint = hub
    state.secrets["GOOD_API_KEY"] = SECRET_SET
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
    assert not leaked(result)


@pytest.mark.parametrize("hub", [["BUILDING", "BUILD_ERROR"]], indirect=True)
def test_build_error_prints_the_logs_and_exits_1(hub: tuple[HubState, str]) -> None:
    state, endpoint = hub
    state.secrets["GOOD_API_KEY"] = SECRET_SET
    result = deploy(endpoint, "good-docker")
    assert result.returncode == 1
    assert "ended in stage BUILD_ERROR" in result.stderr
    assert "build step 2: pip install failed" in result.stderr
    assert state.health_hits == 0
    assert not leaked(result)


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
    assert not leaked(result)


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
    assert not leaked(result)


# --- space-settings.yaml -------------------------------------------------------------------------


def posts(state: HubState, suffix: str) -> list[int]:
    """Indexes of the POST requests whose path ends with `suffix`, in arrival order."""
    return [
        i for i, (m, path, _) in enumerate(state.requests) if m == "POST" and path.endswith(suffix)
    ]


@pytest.mark.parametrize("hub", [["BUILDING", "RUNNING"]], indirect=True)
def test_deploy_applies_the_declared_settings_before_the_upload(hub: tuple[HubState, str]) -> None:
    """good-docker declares cpu-upgrade, a 3600 s sleep time, GREETING and PORT (with a
    description) and the secret GOOD_API_KEY; GREETING already holds its value on the Hub."""
    state, endpoint = hub
    state.secrets["GOOD_API_KEY"] = SECRET_SET
    state.variables["GREETING"] = {"value": "Hello", "description": None}
    state.variables["OWNER_ONLY"] = {"value": "kept", "description": None}
    result = deploy(endpoint, "good-docker")
    assert result.returncode == 0, result.stdout + result.stderr
    assert state.settings_calls == [
        ("hardware", {"flavor": "cpu-upgrade", "sleepTimeSeconds": 3600}),
        (
            "variables",
            {"key": "PORT", "value": "7860", "description": "the port uvicorn listens on"},
        ),
    ]  # GREETING unchanged is not sent again; the sleep time went with the hardware
    assert (state.requested, state.sleep_time) == ("cpu-upgrade", 3600)
    assert state.variables["OWNER_ONLY"]["value"] == "kept"  # undeclared variables are left alone
    assert max(posts(state, "/hardware") + posts(state, "/variables")) < min(
        posts(state, "/commit/main")
    )
    assert "settings of tester/good-docker: 3 change(s)" in result.stdout
    assert "set hardware: 'cpu-basic' -> 'cpu-upgrade'" in result.stdout
    assert not leaked(result)

    again = deploy(endpoint, "good-docker")  # nothing differs any more
    assert again.returncode == 0, again.stdout + again.stderr
    assert "settings of tester/good-docker: 0 change(s)" in again.stdout
    assert len(state.settings_calls) == 2


@pytest.mark.parametrize("hub", [["RUNNING"]], indirect=True)
def test_a_missing_required_secret_stops_the_deploy_before_the_upload(
    hub: tuple[HubState, str],
) -> None:
    state, endpoint = hub
    result = deploy(endpoint, "good-docker")
    assert result.returncode == 1
    assert "tester/good-docker lacks the secret(s) GOOD_API_KEY" in result.stderr
    assert "Settings -> Variables and secrets" in result.stderr
    assert state.commits == []
    assert state.settings_calls == []
    assert not leaked(result)


@pytest.mark.parametrize("hub", [["RUNNING"]], indirect=True)
def test_dry_run_reads_the_hub_and_shows_only_the_changes(hub: tuple[HubState, str]) -> None:
    state, endpoint = hub
    state.spaces.add("tester/good-docker")
    state.variables["GREETING"] = {"value": "Hi", "description": None}
    state.variables["PORT"] = {"value": "7860", "description": "the port uvicorn listens on"}
    args = ["--spaces-dir", str(FIXTURES), "deploy", "good-docker", "--owner", "tester"]
    result = spaces_cli(*args, "--dry-run", env=clean_env(HF_TOKEN=TOKEN, HF_ENDPOINT=endpoint))
    assert result.returncode == 0, result.stderr
    settings = json.loads(result.stdout)["settings"]
    assert settings["compared_with"] == "the Hub"
    assert settings["changes"] == [
        {"set": "hardware", "from": "cpu-basic", "to": "cpu-upgrade"},
        {"set": "sleep_time", "from": None, "to": "3600"},
        {"name": "GREETING", "set": "variable", "from": "Hi", "to": "Hello"},
    ]
    assert settings["missing_secrets"] == ["GOOD_API_KEY"]
    assert [r for r in state.requests if r[0] != "GET"] == []  # touched nothing
    assert not leaked(result)
