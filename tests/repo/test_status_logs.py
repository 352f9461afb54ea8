"""`spaces.py status` and `spaces.py logs` against the stand-in Hub."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hub_standin import NEW_SHA, TOKEN, HubState, clean_env, leaked, spaces_cli

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def spaces_dir(tmp_path: Path) -> Path:
    """Two Space folders: good-docker (deployed in these tests) and good-static (not)."""
    for name in ("good-docker", "good-static"):
        shutil.copytree(FIXTURES / name, tmp_path / name)
    return tmp_path


def cli(spaces_dir: Path, endpoint: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`spaces.py --spaces-dir DIR ARGS` with the Hub at `endpoint`."""
    full_env = clean_env(HF_ENDPOINT=endpoint, HF_TOKEN=TOKEN, **env)
    return spaces_cli("--spaces-dir", str(spaces_dir), *args, env=full_env)


@pytest.mark.parametrize("hub", [["RUNNING"]], indirect=True)
def test_status_json_gives_stage_hardware_commit_and_url(
    hub: tuple[HubState, str], spaces_dir: Path
) -> None:
    state, endpoint = hub
    state.spaces.add("tester/good-docker")
    state.requested = "cpu-upgrade"  # asked for, not yet running
    result = cli(spaces_dir, endpoint, "status", "--owner", "tester", "--json")
    assert result.returncode == 0, result.stderr
    docker, static = json.loads(result.stdout)
    assert docker["repo_id"] == "tester/good-docker"
    assert docker["stage"] == "RUNNING"
    assert (docker["hardware"], docker["requested_hardware"]) == ("cpu-basic", "cpu-upgrade")
    assert docker["commit"] == NEW_SHA
    assert docker["url"] == "https://huggingface.co/spaces/tester/good-docker"
    assert docker["app_url"] == state.host
    assert (static["space"], static["stage"], static["commit"]) == (
        "good-static",
        "NOT_DEPLOYED",
        None,
    )
    assert f"Bearer {TOKEN}" in state.auth
    assert not leaked(result)


@pytest.mark.parametrize("hub", [["BUILD_ERROR"]], indirect=True)
def test_status_table_and_exit_1_when_a_space_is_broken(
    hub: tuple[HubState, str], spaces_dir: Path
) -> None:
    state, endpoint = hub
    state.spaces.add("tester/good-docker")
    result = cli(spaces_dir, endpoint, "status", "good-docker", HF_OWNER="tester")
    assert result.returncode == 1
    header, row = result.stdout.splitlines()
    assert header.split() == ["SPACE", "STAGE", "HARDWARE", "COMMIT", "URL"]
    assert row.split() == [
        "good-docker",
        "BUILD_ERROR",
        "cpu-basic",
        NEW_SHA[:7],
        "https://huggingface.co/spaces/tester/good-docker",
    ]


@pytest.mark.parametrize("hub", [["RUNNING"]], indirect=True)
def test_logs_prints_the_run_or_the_build_logs(hub: tuple[HubState, str], spaces_dir: Path) -> None:
    state, endpoint = hub
    state.spaces.add("tester/good-docker")
    run = cli(spaces_dir, endpoint, "logs", "good-docker", "--owner", "tester")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [f"run step {i}: pip install failed" for i in range(3)]
    build = cli(spaces_dir, endpoint, "logs", "good-docker", "--owner", "tester", "--build")
    assert build.returncode == 0, build.stderr
    assert build.stdout.splitlines()[0] == "build step 0: pip install failed"
    assert any(path.endswith("/logs/build") for _, path, _ in state.requests)
    assert not leaked(run)


@pytest.mark.parametrize("hub", [["RUNNING"]], indirect=True)
def test_logs_of_a_missing_space_and_without_an_owner(
    hub: tuple[HubState, str], spaces_dir: Path
) -> None:
    _, endpoint = hub
    missing = cli(spaces_dir, endpoint, "logs", "good-docker", "--owner", "tester")
    assert missing.returncode == 1
    assert "could not fetch the logs of tester/good-docker" in missing.stderr
    no_owner = cli(spaces_dir, endpoint, "logs", "good-docker")
    assert no_owner.returncode == 2
    assert "no owner: pass --owner or set HF_OWNER" in no_owner.stderr
    assert not leaked(missing)
