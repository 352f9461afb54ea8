"""scripts/spaces.py: list, validate (good and broken fixtures), deploy --dry-run, changes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from huggingface_hub import RepoCard

from scripts.space_checks import CARD_CHECKS, FOLDER_CHECKS, SDKS, validate
from scripts.space_deploy import health_path, mask
from scripts.space_folder import discover, is_dev_only, load_space
from scripts.space_requirements import dev_gradio_version, requirement_pins
from scripts.spaces import change_reason

REPO = Path(__file__).resolve().parents[2]
SPACES = REPO / "spaces"
FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "hf_NeverPrintMe0123456789abcdef"
REAL_SPACES = [s.name for s in discover(SPACES)]

# Each broken fixture fails exactly one check; every problem it reports contains this text.
BROKEN = {
    "bad-no-front-matter": "has no front matter block",
    "bad-yaml": "front matter does not parse as YAML",
    "bad-no-title": "has no `title`",
    "bad-sdk": "`sdk` is 'streamlit'",
    "bad-no-app-file": "has no `app_file`",
    "bad-app-file-missing": "`app_file` main.py does not exist",
    "bad-no-app-port": "has no `app_port`",
    "bad-sdk-version": "`sdk_version` is '5.49.1' but development pins gradio==",
    "bad-no-python-version": "has no `python_version`",
    "bad-unpinned": "is not pinned with ==",
    "bad-no-dockerfile": "there is no Dockerfile",
    "bad-expose": "does not EXPOSE app_port 7860",
    "bad-root-user": "runs as root (USER root)",
    "bad-no-user": "has no USER instruction",
    "bad-import-outside": "imports 'iris_app.model' from spaces/iris-gradio/iris_app, outside",
    "bad-import-repo": "imports 'bench.loadgen' from bench, outside the folder",
    "bad-import-unknown": "imports 'sentiment_helpers_nowhere', which is neither in this folder",
    "bad-import-undeclared": "imports 'pytest' from pytest, which is installed here but not by",
    "bad-relative-import": "relative import climbs above the folder root",
    "bad-sys-path": "to sys.path, outside the folder",
    "bad-static-page-missing": "`app_file` main.html does not exist in the folder",
    "bad-static-npm-range": "asks for onnxruntime-web '^1.30.0', not an exact version",
    "bad-static-no-lock": "has no package-lock.json beside it",
    "bad-static-stale-lock": "package-lock.json does not match package.json",
    "bad-static-no-build": "`app_build_command` does not run `npm ci`",
    "bad-dev-mode": "Dev Mode needs",
    "bad-settings": "space-settings.yaml: ",
}
GOOD = ("good-gradio", "good-docker", "good-static")


def free_port() -> int:
    """A loopback port nothing listens on: a Hub address that cannot answer."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_tool(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python scripts/spaces.py ...` as a person would, from the repository root."""
    full_env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "scripts/spaces.py", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- list -----------------------------------------------------------------------------------


def test_list_gives_every_space_folder_with_the_sdk_of_its_card() -> None:
    result = run_tool("list")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    folders = sorted(p.name for p in SPACES.iterdir() if (p / "README.md").is_file())
    assert [r["name"] for r in records] == folders
    for record in records:
        card = RepoCard.load(REPO / record["path"] / "README.md").data
        assert record["sdk"] == card.sdk, record
        assert record["sdk"] in SDKS
        assert record["title"] == card.title


def test_list_names_is_a_json_array_for_a_workflow_matrix() -> None:
    result = run_tool("list", "--names")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == REAL_SPACES
    one = run_tool("list", "--names", REAL_SPACES[0])
    assert json.loads(one.stdout) == [REAL_SPACES[0]]


def test_list_reads_the_sdk_and_never_assumes_one() -> None:
    result = run_tool("--spaces-dir", str(FIXTURES), "list")
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert records["good-docker"]["sdk"] == "docker"
    assert records["good-docker"]["app_port"] == 7860
    assert records["good-gradio"]["sdk"] == "gradio"
    assert records["good-static"]["sdk"] == "static"
    assert records["good-static"]["app_file"] == "index.html"
    assert records["bad-sdk"]["sdk"] == "streamlit"  # reported as written, rejected by validate
    assert records["bad-yaml"]["sdk"] is None  # unreadable: not defaulted to gradio


def test_unknown_space_name_exits_2_and_names_the_known_ones() -> None:
    result = run_tool("validate", "no-such-space")
    assert result.returncode == 2
    assert "no Space folder named 'no-such-space'" in result.stderr
    assert REAL_SPACES[0] in result.stderr


# --- validate -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GOOD)
def test_good_fixtures_validate(name: str) -> None:
    result = run_tool("--spaces-dir", str(FIXTURES), "validate", name)
    assert result.returncode == 0, result.stdout
    assert f"✓ tests/repo/fixtures/{name}" in result.stdout


@pytest.mark.parametrize(("name", "expected"), sorted(BROKEN.items()))
def test_broken_fixture_fails_its_check(name: str, expected: str) -> None:
    problems = validate(load_space(FIXTURES / name))
    assert problems, f"{name} passed validation"
    assert all(expected in p for p in problems), problems


def test_validate_exits_1_naming_the_folder_and_the_problem() -> None:
    result = run_tool("--spaces-dir", str(FIXTURES), "validate", "bad-expose")
    assert result.returncode == 1
    expected = "tests/repo/fixtures/bad-expose: Dockerfile does not EXPOSE app_port 7860"
    assert expected in result.stdout


def test_every_check_is_proven_by_a_broken_fixture() -> None:
    """Each check passes on the good fixtures and fails on at least one broken fixture."""
    good = [load_space(FIXTURES / n) for n in GOOD]
    broken = [load_space(FIXTURES / n) for n in BROKEN]
    untested = {"check_name", "check_file_sizes", "check_static_weight"}  # proven below on copies
    for check in CARD_CHECKS + FOLDER_CHECKS:
        assert all(check(space) == [] for space in good), check.__name__
        if check.__name__ not in untested:
            assert any(check(s) for s in broken if not s.card_error), check.__name__


def copy_fixture(name: str, tmp_path: Path, as_name: str | None = None) -> Path:
    """A copy outside git, so the folder's own .gitignore decides what is uploaded."""
    target = tmp_path / (as_name or name)
    shutil.copytree(FIXTURES / name, target)
    return target


def test_file_over_10_mb_fails_unless_it_is_an_ignored_build_output(tmp_path: Path) -> None:
    folder = copy_fixture("good-gradio", tmp_path)
    with (folder / "weights.bin").open("wb") as out:
        out.truncate(11 * 1024 * 1024)
    problems = validate(load_space(folder))
    assert problems == ["weights.bin is 11.5 MB, over the 10 MB limit"]
    (folder / "model").mkdir()
    (folder / "weights.bin").rename(folder / "model" / "weights.bin")  # .gitignore: model/
    assert validate(load_space(folder)) == []


def test_static_space_uploads_under_10_mb_in_all_and_builds_the_rest(tmp_path: Path) -> None:
    """Three 4 MB files: each under the per-file limit, too heavy together for a static Space.
    The same bytes in vendor/ (gitignored: the Hub's build step makes it) are fine."""
    folder = copy_fixture("good-static", tmp_path)
    for name in ("a.bin", "b.bin", "c.bin"):
        with (folder / name).open("wb") as out:
            out.truncate(4 * 1024 * 1024)
    (problem,) = validate(load_space(folder))
    assert "weigh 12.6 MB together, over the 10 MB of a static Space" in problem
    (folder / "vendor").mkdir()
    for name in ("a.bin", "b.bin", "c.bin"):
        (folder / name).rename(folder / "vendor" / name)
    assert validate(load_space(folder)) == []


def test_static_page_must_be_uploaded(tmp_path: Path) -> None:
    folder = copy_fixture("good-static", tmp_path)
    with (folder / ".gitignore").open("a") as out:
        out.write("index.html\n")
    assert validate(load_space(folder)) == [
        "`app_file` index.html is ignored, so it would not be uploaded"
    ]


def test_static_space_has_no_python_to_check(tmp_path: Path) -> None:
    """A static Space runs no Python: a helper script beside the page is not import-checked."""
    folder = copy_fixture("good-static", tmp_path)
    (folder / "make_data.py").write_text("from bench.loadgen import machine_info\n")
    assert validate(load_space(folder)) == []
    gradio = copy_fixture("good-gradio", tmp_path)
    (gradio / "make_data.py").write_text("from bench.loadgen import machine_info\n")
    assert validate(load_space(gradio)) != []  # the same file in a Gradio Space is a problem


def test_lean_environment_still_catches_repository_imports(tmp_path: Path) -> None:
    """Where the Space's packages are not installed (the deploy job), unknown imports cannot be
    judged, but imports of the repository's own code still fail."""
    for name in ("bad-import-unknown", "bad-import-outside"):
        folder = copy_fixture(name, tmp_path)
        with (folder / "requirements.txt").open("a") as out:
            out.write("a-distribution-not-installed-here==1.0.0\n")
    assert validate(load_space(tmp_path / "bad-import-unknown")) == []
    (problem,) = validate(load_space(tmp_path / "bad-import-outside"))
    assert "imports 'iris_app.model' from spaces/iris-gradio/iris_app" in problem


def test_folder_name_must_be_a_valid_space_name(tmp_path: Path) -> None:
    folder = copy_fixture("good-gradio", tmp_path, as_name="my space!")
    assert validate(load_space(folder)) == [
        "folder name 'my space!' is not a valid Space name (letters, digits, - _ .)"
    ]


def test_gradio_pin_comes_from_the_development_requirements() -> None:
    pins = requirement_pins(REPO / "requirements-dev.txt")
    assert dev_gradio_version() == pins["gradio"]
    assert pins["gradio"] == version("gradio")  # the installed dev environment agrees


@pytest.mark.parametrize("name", REAL_SPACES)
def test_real_space_validates(name: str) -> None:
    problems = validate(load_space(SPACES / name))
    assert problems == [], f"spaces/{name}: {problems}"


# --- deploy ---------------------------------------------------------------------------------


def dry_run(name: str, spaces_dir: Path = SPACES) -> tuple[dict, str]:
    """The plan of `deploy NAME --dry-run` with a token set and the Hub pointed at nothing.

    Validation is skipped here (test_real_space_validates covers it) so each test has one reason.
    """
    offline = {
        "HF_TOKEN": TOKEN,
        "HF_HUB_OFFLINE": "1",
        "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}",
    }
    args = ["--spaces-dir", str(spaces_dir), "deploy", name, "--owner", "tester", "--dry-run"]
    result = run_tool(*args, "--skip-validation", env=offline)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stdout + result.stderr


@pytest.mark.parametrize("name", REAL_SPACES)
def test_dry_run_of_each_real_space(name: str) -> None:
    plan, output = dry_run(name)
    space = load_space(SPACES / name)
    assert plan["repo_id"] == f"tester/{name}"
    assert plan["sdk"] == space.sdk
    assert f"space_sdk='{space.sdk}'" in plan["create"]
    assert "every remote file not in the upload list" in plan["delete"]
    upload = plan["upload"]
    assert "README.md" in upload
    assert all((SPACES / name / f).is_file() for f in upload)
    assert not [f for f in upload if is_dev_only(f)]
    assert not [f for f in upload if f.startswith(("model/", "index/")) or "__pycache__" in f]
    if space.sdk == "static":  # the Hub's build step makes vendor/ from the locked packages
        assert {"index.html", "package.json", "package-lock.json"} <= set(upload)
        assert not [f for f in upload if f.startswith(("vendor/", "node_modules/"))]
        assert plan["smoke_test"] == f"GET https://tester-{name}.static.hf.space/ answers 200"
    else:
        assert "requirements.txt" in upload
    if space.sdk == "docker":
        assert {"Dockerfile", ".dockerignore"} <= set(upload)
    if space.sdk == "gradio":
        assert space.card["app_file"] in upload
    assert plan["token"] == "HF_TOKEN is set (never printed)"
    assert TOKEN not in output


@pytest.mark.parametrize("name", REAL_SPACES)
def test_dry_run_leaves_dev_only_files_out(name: str, tmp_path: Path) -> None:
    """A copy of the real folder plus tests, caches, logs and build outputs: none is uploaded."""
    spaces_dir = tmp_path / "spaces"
    skip = shutil.ignore_patterns(
        "model", "index", "__pycache__", "*.log", ".pytest_cache", "node_modules", "vendor"
    )
    shutil.copytree(SPACES / name, spaces_dir / name, ignore=skip)
    in_repo, _ = dry_run(name)
    dev_files = [
        "tests/test_app.py",
        "pkg/__pycache__/mod.cpython-311.pyc",
        ".pytest_cache/v/cache/lastfailed",
        ".venv/bin/python",
        "server.log",
        "model/model.safetensors",
        "index/index.faiss",
        "node_modules/onnxruntime-web/package.json",
    ]
    for rel in dev_files:
        (spaces_dir / name / rel).parent.mkdir(parents=True, exist_ok=True)
        (spaces_dir / name / rel).write_text("dev only")
    plan, _ = dry_run(name, spaces_dir)
    assert plan["upload"] == in_repo["upload"]
    assert set(dev_files) <= set(plan["left_out"])


def test_deploy_without_token_exits_2_before_any_network() -> None:
    result = run_tool("deploy", REAL_SPACES[0], "--owner", "tester")
    assert result.returncode == 2
    assert "HF_TOKEN is not set" in result.stderr


def test_deploy_refuses_an_invalid_space() -> None:
    args = ["--spaces-dir", str(FIXTURES), "deploy", "bad-root-user", "--owner", "t", "--dry-run"]
    result = run_tool(*args)
    assert result.returncode == 1
    assert "error: spaces/bad-root-user: Dockerfile runs as root" in result.stderr
    assert result.stdout == ""


def test_failed_deploy_exits_1_and_never_prints_the_token() -> None:
    """A real deploy against a Hub address where nothing listens: a clean error, token hidden."""
    hub = {"HF_TOKEN": TOKEN, "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    args = ["--spaces-dir", str(FIXTURES), "deploy", "good-docker", "--owner", "tester"]
    result = run_tool(*args, "--timeout", "5", env=hub)
    assert result.returncode == 1
    assert "error: could not create the Space tester/good-docker" in result.stderr
    assert "Traceback" not in result.stderr
    assert TOKEN not in result.stdout + result.stderr


def test_mask_hides_the_token_in_any_message() -> None:
    assert mask(f"401 for Bearer {TOKEN} at /api", TOKEN) == "401 for Bearer hf_*** at /api"
    assert mask("no token here", None) == "no token here"


def test_docker_smoke_test_probes_the_healthcheck_path() -> None:
    assert health_path(load_space(FIXTURES / "good-docker")) == "/health"
    assert health_path(load_space(FIXTURES / "good-gradio")) == "/"


# --- which Spaces changed since their last deploy ---------------------------------------------


def git(repo: Path, *args: str) -> str:
    """Run git in a scratch repository."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    out = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def commit_file(repo: Path, rel: str, text: str) -> str:
    """Write, commit and return the new commit's sha."""
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text)
    git(repo, "add", rel)
    git(repo, "commit", "-q", "-m", f"change {rel}")
    return git(repo, "rev-parse", "HEAD")


def changed(repo: Path, head: str = "HEAD") -> dict[str, str | None]:
    """change_reason for every Space of the scratch repository."""
    return {s.name: change_reason(s, head) for s in discover(repo / "spaces")}


def test_changed_spaces_follow_their_deployed_tags(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit_file(repo, "spaces/a/README.md", "---\ntitle: A\nsdk: gradio\n---\n")
    first = commit_file(repo, "spaces/b/README.md", "---\ntitle: B\nsdk: docker\n---\n")
    assert changed(repo) == {"a": "never deployed (no tag)", "b": "never deployed (no tag)"}

    git(repo, "tag", "deployed/a", first)
    git(repo, "tag", "deployed/b", first)
    assert changed(repo) == {"a": None, "b": None}

    second = commit_file(repo, "spaces/a/app.py", "print('a')\n")
    commit_file(repo, "README.md", "the repository's README is not part of any Space\n")
    assert changed(repo) == {"a": "folder changed", "b": None}

    commit_file(repo, ".github/workflows/deploy.yml", "name: Deploy\n")
    shared = "shared deploy files changed: .github/workflows/deploy.yml"
    assert changed(repo) == {"a": shared, "b": shared}
    commit_file(repo, "scripts/space_newhelper.py", "HELPER = 1\n")
    commit_file(repo, "scripts/unrelated_tool.py", "TOOL = 1\n")
    helper = f"{shared}, scripts/space_newhelper.py"
    assert changed(repo) == {"a": helper, "b": helper}

    head = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "-f", "deployed/a", head)
    git(repo, "tag", "-f", "deployed/b", head)
    assert changed(repo, second) == {"a": None, "b": None}  # never redeploy older code

    commit_file(repo, "spaces/c/README.md", "---\ntitle: C\nsdk: static\n---\n")
    assert changed(repo) == {"a": None, "b": None, "c": "never deployed (no tag)"}

    cli = run_tool("--spaces-dir", str(repo / "spaces"), "list", "--names", "--changed")
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout) == ["c"]
    assert "a: up to date" in cli.stderr
