"""Keyless deploys (Trusted Publishers), against stand-ins of GitHub's OIDC token service and the
Hub's token exchange: deploy.yml's own deploy step runs as the runner would run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hub_standin import (
    EXCHANGED,
    ID_TOKEN,
    REQUEST_TOKEN,
    TOKEN,
    GitHubState,
    HubState,
    clean_env,
    leaked,
    spaces_cli,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
DEPLOY = REPO / ".github" / "workflows" / "deploy.yml"
SPACE = "tester/good-docker"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
SECRET_SET = {"description": None, "updatedAt": "2026-12-01T00:00:00.000Z"}


def runner_env(endpoint: str, github_url: str, **extra: str) -> dict[str, str]:
    """What a GitHub job with `permissions: id-token: write` has, pointed at the stand-ins."""
    return clean_env(
        HF_ENDPOINT=endpoint,
        GITHUB_ACTIONS="true",
        ACTIONS_ID_TOKEN_REQUEST_URL=github_url,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN=REQUEST_TOKEN,
        **extra,
    )


def deploy(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    """`spaces.py deploy good-docker --owner tester` from the fixtures."""
    args = ["--spaces-dir", str(FIXTURES), "deploy", "good-docker", "--owner", "tester"]
    return spaces_cli(*args, "--timeout", "60", "--poll", "0.2", *extra, env=env)


def writes(state: HubState) -> list[tuple[str, str]]:
    """(path, Authorization) of every write to the Space."""
    return [(path, auth) for method, path, auth in state.requests if method == "POST"]


@pytest.mark.parametrize("hub", [["BUILDING", "RUNNING"]], indirect=True)
def test_keyless_deploy_exchanges_the_github_id_token_and_writes_with_it(
    hub: tuple[HubState, str], github: tuple[GitHubState, str]
) -> None:
    state, endpoint = hub
    gh_state, gh_url = github
    state.spaces.add(SPACE)  # created earlier, by a deploy with a token
    state.secrets["GOOD_API_KEY"] = SECRET_SET
    result = deploy(runner_env(endpoint, gh_url, HF_OIDC_RESOURCE=f"spaces/{SPACE}"))
    assert result.returncode == 0, result.stdout + result.stderr

    (query, auth), *_ = gh_state.requests
    assert auth == f"Bearer {REQUEST_TOKEN}"
    assert query["audience"] == [endpoint]  # the endpoint that validates the id token
    # (httpx 0.28 replaces the URL's own `?api-version=2.0` with these params: huggingface_hub
    # sends the audience alone, and so does this test accept it.)
    (exchange,) = state.exchanges
    assert exchange == {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token_type": ID_TOKEN_TYPE,
        "subject_token": ID_TOKEN,
        "resource": f"spaces/{SPACE}",
    }
    space_writes = [(p, a) for p, a in writes(state) if p.startswith("/api/spaces/")]
    assert {p.rsplit("/", 2)[-2] for p, _ in space_writes} >= {"preupload", "commit"}
    assert {a for _, a in space_writes} == {f"Bearer {EXCHANGED}"}
    assert f"Bearer {TOKEN}" not in state.auth
    assert state.created == []  # a Trusted Publishers token cannot create a Space
    assert state.files["Dockerfile"] == (FIXTURES / "good-docker" / "Dockerfile").read_bytes()
    assert state.health_hits >= 1
    assert not leaked(result)


@pytest.mark.parametrize("hub", [["RUNNING"]], indirect=True)
def test_keyless_deploy_of_a_missing_space_says_how_to_create_it(
    hub: tuple[HubState, str], github: tuple[GitHubState, str]
) -> None:
    state, endpoint = hub
    result = deploy(runner_env(endpoint, github[1], HF_OIDC_RESOURCE=f"spaces/{SPACE}"))
    assert result.returncode == 1
    assert f"{SPACE} does not exist" in result.stderr
    assert "deploy it once with a write token (HF_TOKEN)" in result.stderr
    assert "Trusted Publisher" in result.stderr
    assert state.created == []
    assert state.commits == []
    assert not leaked(result)


@pytest.mark.parametrize("hub", [["RUNNING"]], indirect=True)
def test_resource_naming_another_space_is_refused_before_any_request(
    hub: tuple[HubState, str], github: tuple[GitHubState, str]
) -> None:
    state, endpoint = hub
    env = runner_env(endpoint, github[1], HF_OIDC_RESOURCE="spaces/tester/other-space")
    result = deploy(env)
    assert result.returncode == 2
    assert "HF_OIDC_RESOURCE is 'spaces/tester/other-space'" in result.stderr
    assert github[0].requests == []
    assert state.requests == []


@pytest.mark.parametrize("hub", [["RUNNING"]], indirect=True)
def test_a_refused_id_token_request_fails_cleanly(
    hub: tuple[HubState, str], github: tuple[GitHubState, str]
) -> None:
    state, endpoint = hub
    state.spaces.add(SPACE)
    env = runner_env(endpoint, github[1], HF_OIDC_RESOURCE=f"spaces/{SPACE}")
    env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "ghs_WrongRequestToken0123456789"
    result = deploy(env)
    assert result.returncode == 1
    assert "the Trusted Publishers token exchange failed" in result.stderr
    assert "Traceback" not in result.stderr
    assert "ghs_WrongRequestToken0123456789" not in result.stdout + result.stderr
    assert state.exchanges == []
    assert state.commits == []


@pytest.mark.parametrize("hub", [["RUNNING"]], indirect=True)
def test_dry_run_names_the_keyless_path_without_exchanging(
    hub: tuple[HubState, str], github: tuple[GitHubState, str]
) -> None:
    state, endpoint = hub
    result = deploy(
        runner_env(endpoint, github[1], HF_OIDC_RESOURCE=f"spaces/{SPACE}"), "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert "Trusted Publishers" in plan["token"]
    assert plan["create"].startswith("none")
    assert github[0].requests == []
    assert state.exchanges == []


# --- the workflow's own deploy step -----------------------------------------------------------


def deploy_step() -> dict:
    """The `Deploy to the Hub` step of deploy.yml."""
    steps = yaml.safe_load(DEPLOY.read_text())["jobs"]["deploy"]["steps"]
    return next(s for s in steps if s.get("name") == "Deploy to the Hub")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """What actions/checkout gives the job, reduced to the deploy tool and one Space folder."""
    shutil.copytree(REPO / "scripts", tmp_path / "scripts", ignore=shutil.ignore_patterns("__py*"))
    shutil.copytree(FIXTURES / "good-docker", tmp_path / "spaces" / "good-docker")
    return tmp_path


def run_deploy_step(checkout: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The step's script under bash -e, with the job's env (SPACE, HF_OWNER, HF_TOKEN)."""
    env = {**env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env |= {"SPACE": "good-docker", "HF_OWNER": "tester"}
    fast = "spaces.py deploy --timeout 60 --poll 0.2"  # the stand-in settles at once
    run = deploy_step()["run"].replace("spaces.py deploy", fast)
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", run],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_deploy_job_may_request_an_id_token_and_the_plan_job_may_not() -> None:
    jobs = yaml.safe_load(DEPLOY.read_text())["jobs"]
    assert jobs["deploy"]["permissions"]["id-token"] == "write"
    assert "id-token" not in jobs["plan"]["permissions"]
    step = deploy_step()
    assert step["env"]["HF_TOKEN"] == "${{ secrets.HF_TOKEN }}"
    assert 'HF_OIDC_RESOURCE="spaces/$HF_OWNER/$SPACE"' in step["run"]


@pytest.mark.parametrize("hub", [["BUILDING", "RUNNING"]], indirect=True)
def test_workflow_step_without_the_secret_deploys_keyless(
    hub: tuple[HubState, str], github: tuple[GitHubState, str], checkout: Path
) -> None:
    state, endpoint = hub
    state.spaces.add(SPACE)
    state.secrets["GOOD_API_KEY"] = SECRET_SET
    result = run_deploy_step(checkout, runner_env(endpoint, github[1], HF_TOKEN=""))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "keyless deploy (Trusted Publishers) to spaces/tester/good-docker" in result.stdout
    assert [e["resource"] for e in state.exchanges] == [f"spaces/{SPACE}"]
    assert {a for p, a in writes(state) if p.startswith("/api/spaces/")} == {f"Bearer {EXCHANGED}"}
    assert not leaked(result)


@pytest.mark.parametrize("hub", [["BUILDING", "RUNNING"]], indirect=True)
def test_workflow_step_with_the_secret_uses_it_and_exchanges_nothing(
    hub: tuple[HubState, str], github: tuple[GitHubState, str], checkout: Path
) -> None:
    state, endpoint = hub
    state.secrets["GOOD_API_KEY"] = SECRET_SET
    result = run_deploy_step(checkout, runner_env(endpoint, github[1], HF_TOKEN=TOKEN))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "keyless" not in result.stdout
    assert state.created[0]["name"] == "good-docker"  # a token may create the Space
    assert github[0].requests == []
    assert state.exchanges == []
    assert {a for _, a in writes(state) if a} == {f"Bearer {TOKEN}"}
    assert not leaked(result)
