"""The GitHub workflows: actionlint-clean, shaped as the issue asks, their plan step run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
CI, DEPLOY = WORKFLOWS / "ci.yml", WORKFLOWS / "deploy.yml"
ACTIONLINT = Path(sys.executable).parent / "actionlint"
BIN = str(Path(sys.executable).parent)


def load(path: Path) -> dict:
    """A workflow as data (PyYAML reads the `on:` key as True)."""
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))
    return data


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    """Run the venv's actionlint (the Python-packaged binary) on `paths`."""
    if not ACTIONLINT.is_file():
        message = f"{ACTIONLINT} is missing: run `make setup`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    cmd = [str(ACTIONLINT), "-no-color", *map(str, paths)]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)


def test_both_workflows_pass_actionlint() -> None:
    result = actionlint(CI, DEPLOY)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_does_catch_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "deploy.yml"
    broken.parent.mkdir(parents=True)
    good = "group: deploy-${{ matrix.space }}"
    text = DEPLOY.read_text().replace(good, "group: ${{ matrix.spaec }}")
    broken.write_text(text)
    result = actionlint(broken)
    assert result.returncode == 1
    assert "spaec" in result.stdout


def steps_of(workflow: dict, job: str) -> list[dict]:
    """The steps of one job."""
    return workflow["jobs"][job]["steps"]


def test_ci_runs_make_test_on_pull_requests_and_pushes_with_python_311() -> None:
    ci = load(CI)
    assert {"pull_request", "push"} <= set(ci["on"])
    steps = steps_of(ci, "test")
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == "3.11"
    assert python["with"]["cache"] == "pip"
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == "~/.cache/hf-spaces-monorepo"
    assert "requirements-dev.txt" in cache["with"]["key"]
    assert any("apt-get install" in s.get("run", "") and "chromium" in s["run"] for s in steps)
    assert steps[-1]["run"] == "make test"
    assert ci["jobs"]["test"]["runs-on"] == "ubuntu-latest"


def test_deploy_runs_after_ci_with_a_per_space_matrix_token_and_owner() -> None:
    deploy, ci = load(DEPLOY), load(CI)
    assert deploy["on"]["workflow_run"]["workflows"] == [ci["name"]]
    assert deploy["on"]["workflow_run"]["branches"] == ["main"]
    assert "success" in deploy["jobs"]["plan"]["if"]
    assert "space" in deploy["on"]["workflow_dispatch"]["inputs"]
    job = deploy["jobs"]["deploy"]
    assert job["needs"] == "plan"
    assert job["strategy"]["matrix"]["space"] == "${{ fromJSON(needs.plan.outputs.spaces) }}"
    concurrency = {"group": "deploy-${{ matrix.space }}", "cancel-in-progress": False}
    assert job["concurrency"] == concurrency
    step = next(s for s in job["steps"] if "spaces.py deploy" in s.get("run", ""))
    assert step["env"]["HF_TOKEN"] == "${{ secrets.HF_TOKEN }}"
    assert step["env"]["HF_OWNER"] == "${{ vars.HF_OWNER || github.repository_owner }}"
    assert '--owner "$HF_OWNER"' in step["run"]


def test_no_space_is_named_in_the_workflows() -> None:
    """New spaces/<name>/ folders are deployed with no change to the workflows."""
    text = CI.read_text() + DEPLOY.read_text()
    for folder in (REPO / "spaces").iterdir():
        assert folder.name not in text


def run_step(workflow: dict, job: str, step_id: str, cwd: Path, env: dict[str, str]) -> dict:
    """Run one step's shell script as the runner would; return what it wrote to GITHUB_OUTPUT."""
    step = next(s for s in steps_of(workflow, job) if s.get("id") == step_id)
    output, summary = cwd / ".out", cwd / ".summary"
    full_env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **env}
    full_env |= {"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", step["run"]],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = output.read_text().splitlines()
    output.unlink()
    return dict(line.split("=", 1) for line in lines)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of the committed repository, as actions/checkout gives the runner."""
    target = tmp_path_factory.mktemp("clone") / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(target)], check=True)
    return target


def test_plan_step_deploys_every_space_first_then_only_changed_ones(clone: Path) -> None:
    deploy = load(DEPLOY)
    names = sorted(p.name for p in (clone / "spaces").iterdir() if (p / "README.md").is_file())
    assert names, "the clone has no Space folder"
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout.strip()

    out = run_step(deploy, "plan", "plan", clone, {"EVENT": "workflow_run", "INPUT_SPACE": ""})
    assert json.loads(out["spaces"]) == names  # no deployed/<name> tag yet: all of them
    assert out["sha"] == head

    subprocess.run(["git", "tag", f"deployed/{names[0]}", head], cwd=clone, check=True)
    out = run_step(deploy, "plan", "plan", clone, {"EVENT": "workflow_run", "INPUT_SPACE": ""})
    assert json.loads(out["spaces"]) == names[1:]

    still = run_step(deploy, "deploy", "check", clone, {"EVENT": "workflow_run", "SPACE": names[0]})
    assert still == {"needed": "false"}

    manual = {"EVENT": "workflow_dispatch", "INPUT_SPACE": names[0]}
    assert json.loads(run_step(deploy, "plan", "plan", clone, manual)["spaces"]) == [names[0]]
    manual["INPUT_SPACE"] = "all"
    assert json.loads(run_step(deploy, "plan", "plan", clone, manual)["spaces"]) == names


def test_deploy_requirements_cover_the_tool() -> None:
    """The deploy job installs only scripts/requirements-deploy.txt: pins match the dev env."""
    from importlib.metadata import version

    pins = dict(
        line.split("==")
        for line in (REPO / "scripts" / "requirements-deploy.txt").read_text().splitlines()
        if "==" in line
    )
    for name, pinned in pins.items():
        assert version(name) == pinned, name
    assert shutil.which("git")
