"""`spaces.py deploy`: plan what goes to the Hub, upload it with HfApi, wait, smoke-test."""

from __future__ import annotations

import glob
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from scripts.space_apply import apply_settings, settings_preview
from scripts.space_auth import Credentials, mask, secrets_to_mask
from scripts.space_folder import REPO, SpaceFolder, all_files, upload_files
from scripts.space_settings import SpaceSettings, read_settings

ERROR_STAGES = {"BUILD_ERROR", "RUNTIME_ERROR", "CONFIG_ERROR", "NO_APP_FILE", "DELETING"}
SETTLING_STAGES = {"BUILDING", "RUNNING_BUILDING", "APP_STARTING", "RUNNING_APP_STARTING"}
LEFT_OUT_SHOWN = 40


@dataclass
class DeployPlan:
    """Everything a deploy will do, computed without the network."""

    space: SpaceFolder
    repo_id: str
    upload: list[str]
    left_out: list[str]
    settings: SpaceSettings | None = None

    @property
    def sdk(self) -> str:
        """The sdk the Space is created with (the Hub would default to gradio)."""
        return str(self.space.sdk)

    def smoke_test(self) -> str:
        """What is checked once the Space runs."""
        if self.sdk == "docker":
            return f"GET {space_host(self.repo_id)}{health_path(self.space)} answers 200"
        if self.sdk == "gradio":
            return f"gradio_client.Client({self.repo_id!r}).view_api() lists named endpoints"
        return f"GET {space_host(self.repo_id, self.sdk)}/ answers 200"

    def as_dict(self, creds: Credentials) -> dict[str, Any]:
        """The plan as JSON-ready data; the token is only described, never shown."""
        create = f"create_repo(repo_type='space', space_sdk='{self.sdk}', exist_ok=True)"
        if creds.oidc:
            create = "none: a Trusted Publishers token writes to an existing Space only"
        return {
            "space": self.space.name,
            "repo_id": self.repo_id,
            "url": f"https://huggingface.co/spaces/{self.repo_id}",
            "sdk": self.sdk,
            "create": create,
            "upload": self.upload,
            "delete": "every remote file not in the upload list (except .gitattributes)",
            "left_out": self.left_out[:LEFT_OUT_SHOWN],
            "left_out_count": len(self.left_out),
            "wait": "until the Space's runtime stage is RUNNING for this commit",
            "smoke_test": self.smoke_test(),
            "token": creds.describe(),
            "settings": settings_preview(self.settings, self.repo_id, creds.token),
        }


def make_plan(space: SpaceFolder, owner: str) -> DeployPlan:
    """The repo id, the files to upload and the local files left out."""
    upload = upload_files(space.path)
    chosen = set(upload)
    left_out = [f for f in all_files(space.path) if f not in chosen]
    settings, _ = read_settings(space.path)
    repo_id = f"{owner}/{space.name}"
    return DeployPlan(space, repo_id, upload=upload, left_out=left_out, settings=settings)


def space_host(repo_id: str, sdk: str | None = None) -> str:
    """The Space's own origin, e.g. https://owner-name.hf.space (a static Space's is on
    static.hf.space)."""
    subdomain = re.sub(r"[^a-z0-9]+", "-", repo_id.lower()).strip("-")
    return f"https://{subdomain}.{'static.' if sdk == 'static' else ''}hf.space"


def health_path(space: SpaceFolder) -> str:
    """The URL path of the Dockerfile's HEALTHCHECK when it probes one over HTTP, else '/'."""
    dockerfile = space.path / "Dockerfile"
    text = dockerfile.read_text() if dockerfile.is_file() else ""
    healthcheck = re.search(r"^HEALTHCHECK\b(?:.*\\\n)*.*$", text, flags=re.MULTILINE)
    url = (
        re.search(r"https?://[^/\s\"']+(/[^\s\"'|;]*)", healthcheck.group(0))
        if healthcheck
        else None
    )
    return url.group(1) if url else "/"


def git_revision() -> str:
    """The short commit of the repository, for the Hub commit message."""
    proc = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or "unknown"


def run_deploy(plan: DeployPlan, creds: Credentials, timeout: float, poll: float = 10) -> int:
    """Create (or find), apply settings, upload, wait, smoke-test. Returns the exit code; never
    prints a token."""
    from huggingface_hub import HfApi

    token = str(creds.token)
    hidden = [token, *secrets_to_mask()]
    api = HfApi(token=token)
    step = "create the Space"
    try:
        if creds.oidc:
            step = "find the Space"
            if not api.repo_exists(plan.repo_id, repo_type="space"):
                print(f"error: {plan.repo_id} does not exist. {FIRST_RUN}", file=sys.stderr)
                return 1
        else:
            api.create_repo(plan.repo_id, repo_type="space", space_sdk=plan.sdk, exist_ok=True)
        if plan.settings is not None:
            step = "apply the settings of"
            if not apply_settings(api, plan.repo_id, plan.settings):
                return 1
        step = "upload the folder"
        commit = api.upload_folder(
            repo_id=plan.repo_id,
            repo_type="space",
            folder_path=plan.space.path,
            allow_patterns=[glob.escape(f) for f in plan.upload],
            delete_patterns="*",
            commit_message=f"Deploy {plan.space.name} from {git_revision()}",
        )
        print(f"uploaded {len(plan.upload)} files: {commit.commit_url}")
        step = "wait for the Space"
        stage = wait_until_settled(api, plan.repo_id, commit.oid, timeout, poll)
        if stage != "RUNNING":
            print(f"error: {plan.repo_id} ended in stage {stage}", file=sys.stderr)
            print_logs(api, plan.repo_id, build=stage != "RUNTIME_ERROR")
            return 1
        step = "smoke-test the Space"
        host = api.space_info(plan.repo_id).host or space_host(plan.repo_id, plan.sdk)
        host = host if host.startswith("http") else f"https://{host}"
        smoke_test(plan, token, host, timeout=min(timeout, 300), poll=poll)
    except Exception as exc:  # every Hub or HTTP failure ends here, tokens masked
        print(f"error: could not {step} {plan.repo_id}: {mask(str(exc), *hidden)}", file=sys.stderr)
        return 1
    print(f"{plan.repo_id} is running: https://huggingface.co/spaces/{plan.repo_id}")
    return 0


FIRST_RUN = (
    "A Trusted Publishers token can only write to an existing Space: deploy it once with a "
    "write token (HF_TOKEN), then add this GitHub repository as its Trusted Publisher "
    "(the Space's Settings)."
)


def wait_until_settled(api: Any, repo_id: str, sha: str, timeout: float, poll: float) -> str:
    """Poll get_space_runtime until this commit's build has settled; return the final stage.

    Right after an upload the runtime can still report the previous commit as RUNNING, so a
    RUNNING stage only counts once the runtime names this commit (or, when it does not say, once
    a build stage has been seen or 60 s have passed).
    """
    start = time.monotonic()
    seen_build = False
    while time.monotonic() - start < timeout:
        runtime = api.get_space_runtime(repo_id)
        stage = str(runtime.stage)
        runtime_sha = runtime.raw.get("sha")
        seen_build = seen_build or stage in SETTLING_STAGES
        print(f"  {repo_id}: {stage}", flush=True)
        current = runtime_sha == sha if runtime_sha else seen_build or time.monotonic() - start > 60
        if stage in ERROR_STAGES or (stage == "RUNNING" and current):
            return stage
        time.sleep(poll)
    raise TimeoutError(f"{repo_id} did not settle within {timeout:.0f} s")


def print_logs(api: Any, repo_id: str, build: bool, last: int = 200) -> None:
    """Print the tail of the Space's build (or run) logs, from HfApi.fetch_space_logs."""
    kind = "build" if build else "run"
    try:
        lines = list(api.fetch_space_logs(repo_id, build=build))
    except Exception as exc:
        print(f"(could not fetch the {kind} logs: {type(exc).__name__})", file=sys.stderr)
        return
    print(f"--- last {last} lines of the {kind} logs of {repo_id} ---", file=sys.stderr)
    print("".join(lines[-last:]), file=sys.stderr)


def smoke_test(plan: DeployPlan, token: str, host: str, timeout: float, poll: float) -> None:
    """Check the running Space answers: HTTP 200 on its health path, or a Gradio API listing."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if plan.sdk == "gradio":
                _gradio_smoke(plan.repo_id, token)
            else:
                path = health_path(plan.space) if plan.sdk == "docker" else "/"
                _http_smoke(f"{host.rstrip('/')}{path}", token)
            print(f"smoke test passed: {plan.smoke_test()}")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(poll)


def _http_smoke(url: str, token: str) -> None:
    """GET `url` with the token (private Spaces need it) and require a 200."""
    from huggingface_hub.utils import get_session

    response = get_session().get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")


def _gradio_smoke(repo_id: str, token: str) -> None:
    """Connect with gradio_client and require at least one named API endpoint."""
    from gradio_client import Client

    api = Client(repo_id, token=token, verbose=False).view_api(
        print_info=False, return_format="dict"
    )
    if not isinstance(api, dict) or not api.get("named_endpoints"):
        raise RuntimeError(f"{repo_id} exposes no named Gradio endpoint")
