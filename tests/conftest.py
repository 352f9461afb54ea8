"""Fixtures shared by every Space's tests: free ports, real server processes, CI-aware skips."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.servers import free_port  # one helper for tests and benchmarks

REPO = Path(__file__).resolve().parents[1]
SPACES = REPO / "spaces"
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"
# Every Space the tests start listens on loopback only (their settings default to 0.0.0.0, which a
# Space needs); a test that starts one elsewhere says so in its own environment.
for _name in ("IRIS_HOST", "SENTIMENT_HOST", "RAG_HOST"):
    os.environ.setdefault(_name, "127.0.0.1")


def need(condition: bool, why: str) -> None:
    """Skip when a machine tool is missing, but fail under CI, where everything must run."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {why}", pytrace=False)
    pytest.skip(why)


def docker_ready() -> bool:
    """True when a Docker engine answers."""
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, check=False)
    return probe.returncode == 0


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Poll `url` until it answers 200, failing early if `proc` dies."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s (last: {last})")


@contextmanager
def serve(
    cmd: list[str],
    *,
    cwd: Path,
    ready_url: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Iterator[subprocess.Popen]:
    """Run a real server process until the block ends; show its output if it fails to start."""
    log = cwd / f".server-{os.getpid()}-{time.monotonic_ns()}.log"
    full_env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        try:
            wait_http(ready_url, timeout, proc)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(
                f"{exc}\n--- server output ---\n{log.read_text()[-4000:]}"
            ) from exc
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.unlink(missing_ok=True)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [  # headless on a closed network: no sandbox as root, no background connections
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def page() -> Iterator[Any]:
    """A Playwright page in Debian's chromium (never a downloaded browser)."""
    need(Path(CHROMIUM).is_file(), "Debian's chromium is not installed (make browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1100})
        finally:
            browser.close()


SAVING_SCREENSHOTS = os.environ.get("SAVE_SCREENSHOTS") == "1"  # set by `make screenshots`
MAX_SCREENSHOT_BYTES = 400_000


def emoji_font_installed() -> bool:
    """True when fontconfig knows Noto Color Emoji (Debian's fonts-noto-color-emoji)."""
    if shutil.which("fc-list") is None:
        return False
    families = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True).stdout
    return "Noto Color Emoji" in families


def shrink_png(path: Path) -> None:
    """Rewrite a screenshot as a 256-colour optimised PNG (a few times smaller, same look)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Any, str], Path]:
    """Save the viewport of a page's final state as `<space>.png`: into spaces/<space>/ (the
    picture its README shows) under `make screenshots`, else into the test's tmp folder."""
    need(
        emoji_font_installed() or not (IN_CI or SAVING_SCREENSHOTS),
        "the emoji font is not installed, titles would show boxes (make browser)",
    )

    def save(page: Any, space: str) -> Path:
        folder = SPACES / space if SAVING_SCREENSHOTS else tmp_path
        target = folder / "screenshot.png"
        page.screenshot(path=str(target))  # the viewport only: a small picture
        shrink_png(target)
        assert 0 < target.stat().st_size <= MAX_SCREENSHOT_BYTES, target.stat().st_size
        print(f"screenshot: {target}")
        return target

    return save


@pytest.fixture(scope="session")
def python() -> str:
    """The interpreter of the dev environment, for subprocesses."""
    return sys.executable


WHEEL_CACHE = Path(os.environ.get("CACHE", Path.home() / ".cache/hf-spaces-monorepo")) / "wheels"


def _pip_find_links() -> list[Path]:
    """The folders pip is configured to find wheels in on this machine (torch's CPU wheel)."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.find-links"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return [Path(p) for p in out if Path(p).is_dir()]


@pytest.fixture(scope="session")
def wheel_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve the prebuilt wheels (llama-cpp-python, CPU torch) to `docker build` over loopback.

    Docker builds pass it as `--build-arg PIP_FIND_LINKS=<url>` so that torch resolves to the CPU
    wheel on disk and llama-cpp-python is not compiled a second time. The same port each run when
    it is free: the URL is part of Docker's cache key for every step that uses it, so a new port
    would rebuild those steps (pip installs of minutes) on every run.
    """
    folder = tmp_path_factory.mktemp("wheels")
    for source in [WHEEL_CACHE, *_pip_find_links()]:
        for wheel in source.glob("*.whl") if source.is_dir() else []:
            (folder / wheel.name).symlink_to(wheel)
    port = free_port(preferred=18765)
    with serve(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=folder,
        ready_url=f"http://127.0.0.1:{port}/",
        timeout=20,
    ):
        yield f"http://127.0.0.1:{port}/"


# The Docker Spaces' images, built once per test session under these tags and shared by every
# Docker test (test_docker, test_contract, test_registry); `make images` passes the same build
# arguments, so its builds come from the same layer cache.
SPACE_IMAGES = {
    "sentiment-streamlit": "hf-spaces/sentiment-streamlit:test",
    "rag-docker": "hf-spaces-monorepo/rag-docker:test",
}


def image_build_args(wheel_server: str) -> list[str]:
    """The tests' `docker build` arguments: wheels from wheel_server, no torch index."""
    return ["--build-arg", f"PIP_FIND_LINKS={wheel_server}", "--build-arg", "TORCH_INDEX="]


@pytest.fixture(scope="session")
def space_image(wheel_server: str) -> Callable[[str], str]:
    """`space_image(name)` builds that Space's image once per session and returns its tag."""
    built: dict[str, str] = {}

    def build(space: str) -> str:
        if space in built:
            return built[space]
        need(docker_ready(), "no Docker engine (run ../shared/docker/engine.sh all)")
        if space == "sentiment-streamlit" and not (SPACES / space / "model/config.json").is_file():
            pytest.fail(f"{SPACES / space / 'model'} is missing: run `make sentiment-model`")
        tag = SPACE_IMAGES[space]
        cmd = ["docker", "build", "--network", "host", "-t", tag, *image_build_args(wheel_server)]
        run = subprocess.run(
            [*cmd, str(SPACES / space)],
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        built[space] = tag
        return tag

    return build
