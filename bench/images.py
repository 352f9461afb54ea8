"""Docker images of the Spaces: size above the base image, and cold start to ready.

    python -m bench.images [--space sentiment-streamlit] [--before REF] [--runs 5]

Each Space's image is built twice in the same run: from the working tree ("now") and from its
folder at git REF ("before", by default the last commit whose images still installed PyTorch),
with the build outputs git does not hold (the sentiment Space's model/) copied in. The two Docker
Spaces build their own Dockerfile; the Gradio Space (iris-gradio) has none, so it is built the way
Hugging Face runs a Gradio SDK Space (SDK_DOCKERFILE: its requirements installed as user 1000 on
Python 3.11, the repo copied to /home/user/app, `python app.py`). Size is `docker image
inspect`'s, minus the `python:3.11-slim` base's, so it holds on any base. Cold start is `docker
run` until the server's readiness route (`/ready`; in an older image that has none, `/health`,
which its uvicorn answered only once the model was loaded) answers 200, offline
(HF_HUB_OFFLINE=1), the median of several runs. Builds use the same local wheels as the tests
(CPU torch, the portable llama-cpp-python wheel), served on loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx

from bench.loadgen import machine_info, write_results
from bench.servers import free_port, running

REPO = Path(__file__).resolve().parents[1]
BASE = "python:3.11-slim"
# The last commit whose two Docker images installed PyTorch (issue 11's baseline).
BEFORE = "d0a5228"
CACHE = Path(os.environ.get("CACHE", Path.home() / ".cache/hf-spaces-monorepo"))
SITE = "/home/user/.local/lib/python3.11/site-packages"
# How Hugging Face runs a Gradio SDK Space (its runner starts from `python:3.11` and adds the
# SDK's own packages first; the Space's requirements pin gradio itself).
SDK_DOCKERFILE = """FROM python:3.11-slim
RUN useradd -m -u 1000 user
USER user
ENV HOME=/home/user PATH=/home/user/.local/bin:$PATH PYTHONUNBUFFERED=1 \\
    GRADIO_SERVER_NAME=0.0.0.0
WORKDIR /home/user/app
COPY --chown=user requirements.txt .
RUN pip install --no-cache-dir --user --no-warn-script-location -r requirements.txt
COPY --chown=user . .
CMD ["python", "app.py"]
"""
SPACES: dict[str, dict[str, Any]] = {
    "iris-gradio": {
        "port": 7860,
        "ready": "/ready",
        "command": [],  # SDK_DOCKERFILE's CMD
        "untracked": [],  # its trained model is in git
        "sdk_dockerfile": SDK_DOCKERFILE,
        "goal_gb": None,  # no size goal: the platform builds it
        "goal_cold_s": 4.0,
    },
    "sentiment-streamlit": {
        "port": 8000,
        "ready": "/ready",
        "command": ["api"],  # after `python -m sentiment_app`
        "untracked": ["model"],  # built by make, gitignored
        "goal_gb": 0.6,
        "goal_cold_s": 5.0,
    },
    "rag-docker": {
        "port": 7860,
        "ready": "/ready",
        "command": [],  # the image's own CMD
        "untracked": [],  # the image builds its index itself
        "goal_gb": 0.9,
        "goal_cold_s": 8.0,
    },
}


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def image_bytes(tag: str) -> int:
    return int(docker("image", "inspect", "-f", "{{.Size}}", tag).stdout)


@contextmanager
def wheel_server() -> Iterator[str]:
    """The local wheels (CPU torch, llama-cpp-python) on loopback, as the Docker tests use."""
    folder = Path(tempfile.mkdtemp(prefix="bench-wheels-"))
    find_links = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.find-links"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    for source in [CACHE / "wheels", *map(Path, find_links)]:
        for wheel in source.glob("*.whl") if source.is_dir() else []:
            (folder / wheel.name).symlink_to(wheel)
    port = free_port()
    cmd = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    url = f"http://127.0.0.1:{port}/"
    try:
        with running(cmd, cwd=folder, ready_url=url, timeout=20):
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def checkout(space: str, ref: str, into: Path) -> Path:
    """The Space folder as it was at `ref`, plus the untracked build outputs of today's folder."""
    archive = subprocess.run(
        ["git", "archive", ref, f"spaces/{space}"], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    folder = into / "spaces" / space
    for name in SPACES[space]["untracked"]:
        shutil.copytree(REPO / "spaces" / space / name, folder / name, dirs_exist_ok=True)
    return folder


def build(folder: Path, tag: str, wheels: str, dockerfile: str | None = None) -> float:
    """docker build as the tests do (`dockerfile`: its text, when the folder has none); returns
    the seconds it took (layers may come from cache)."""
    began = time.perf_counter()
    args = ["--build-arg", f"PIP_FIND_LINKS={wheels}", "--build-arg", "TORCH_INDEX="]
    with tempfile.TemporaryDirectory(prefix="bench-dockerfile-") as tmp:
        if dockerfile is not None:
            (Path(tmp) / "Dockerfile").write_text(dockerfile)
            args = ["-f", str(Path(tmp) / "Dockerfile")]
        done = subprocess.run(
            ["docker", "build", "--network", "host", "-t", tag, *args, str(folder)],
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"building {tag} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.perf_counter() - began


def cold_start(tag: str, space: str) -> float:
    """Seconds from `docker run` to a 200 from the readiness route."""
    spec = SPACES[space]
    entrypoint = docker("image", "inspect", "-f", "{{json .Config.Entrypoint}}", tag).stdout
    command = spec["command"]
    if command and entrypoint.strip() in ("null", "[]"):  # no ENTRYPOINT: the whole command
        command = ["python", "-m", "sentiment_app", *command]
    port = free_port()
    url = f"http://127.0.0.1:{port}{spec['ready']}"
    older = f"http://127.0.0.1:{port}/health"
    began = time.perf_counter()
    cid = docker(
        "run", "-d", "-e", "HF_HUB_OFFLINE=1", "-p", f"127.0.0.1:{port}:{spec['port']}",
        tag, *command,
    ).stdout.strip()  # fmt: skip
    try:
        while time.perf_counter() - began < 300:
            try:
                status = httpx.get(url, timeout=2).status_code
                if status == 404:  # an image from before /ready
                    status = httpx.get(older, timeout=2).status_code
                if status == 200:
                    return time.perf_counter() - began
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        logs = docker("logs", cid, check=False)
        raise TimeoutError(f"{tag} not ready in 300 s:\n{logs.stdout[-2000:]}{logs.stderr[-2000:]}")
    finally:
        docker("rm", "-f", cid, check=False)


def largest_packages(tag: str, top: int = 8) -> list[tuple[str, int]]:
    """The biggest installed packages of an image, in MB."""
    listing = docker("run", "--rm", "--network", "none", "--entrypoint", "du", tag,
                     "-sm", f"{SITE}/*", check=False)  # fmt: skip
    if listing.returncode != 0:  # `du` with a glob needs a shell
        listing = docker("run", "--rm", "--network", "none", "--entrypoint", "sh", tag, "-c",
                         f"du -sm {SITE}/*", check=False)  # fmt: skip
    rows = []
    for line in listing.stdout.splitlines():
        size, path = line.split("\t", 1)
        rows.append((Path(path).name, int(size)))
    return sorted(rows, key=lambda r: -r[1])[:top]


def has_torch(tag: str) -> bool:
    probe = docker("run", "--rm", "--network", "none", "--entrypoint", "python", tag,
                   "-c", "import torch", check=False)  # fmt: skip
    return probe.returncode == 0


def measure(space: str, tag: str, runs: int) -> dict[str, Any]:
    starts = [cold_start(tag, space) for _ in range(runs)]
    size = image_bytes(tag)
    return {
        "image_gb": round(size / 1e9, 3),
        "above_base_gb": round((size - image_bytes(BASE)) / 1e9, 3),
        "cold_start_s": round(statistics.median(starts), 2),
        "cold_start_runs_s": [round(s, 2) for s in starts],
        "torch_importable": has_torch(tag),
        "largest_packages_mb": largest_packages(tag),
    }


def summary(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# Docker images: size above the base image and cold start",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Docker {m['docker']}. Each row's "
        "`before` and `now` are measured in one run on the same machine (its date and load "
        "average below; other work shared the cores). `before` is the Space folder at "
        f"`{results['before']}` (PyTorch in the image), `now` the working tree. "
        f"Size: `docker image inspect` minus `{BASE}` ({results['base_gb']} GB here). Cold "
        "start: `docker run` to a 200 from the readiness route, offline, median of each row's "
        "runs (listed below). iris-gradio is a Gradio SDK Space with no Dockerfile: built "
        "as Hugging Face runs one (`bench.images.SDK_DOCKERFILE`), its size not a goal.",
        "",
        "| image | above base, before | above base, now | change | goal | cold start, before "
        "| cold start, now | goal | `import torch` before / now |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for space, row in results["spaces"].items():
        before, now = row["before"], row["now"]
        spec = SPACES[space]
        change = now["above_base_gb"] / before["above_base_gb"]
        size_goal = f"≤ {spec['goal_gb']} GB" if spec["goal_gb"] else "– (SDK image)"
        lines.append(
            f"| {space} | {before['above_base_gb']:.2f} GB | {now['above_base_gb']:.2f} GB | "
            f"×{change:.2f} | {size_goal} | {before['cold_start_s']:.1f} s | "
            f"{now['cold_start_s']:.1f} s | ≤ {spec['goal_cold_s']:.0f} s | "
            f"{'imports' if before['torch_importable'] else 'fails'} / "
            f"{'imports' if now['torch_importable'] else 'fails'} |"
        )
    lines += ["", "Runs:", ""]
    for space, row in results["spaces"].items():
        lines.append(
            f"- {space}: {row['date']}, load average {row['load_average']} at the start, "
            f"{row.get('load_average_end', '–')} at the end; cold starts before "
            f"{row['before']['cold_start_runs_s']} s, now {row['now']['cold_start_runs_s']} s"
        )
    lines += ["", "Largest installed packages now (MB):", ""]
    for space, row in results["spaces"].items():
        packages = ", ".join(f"{name} {mb}" for name, mb in row["now"]["largest_packages_mb"])
        lines.append(f"- {space}: {packages}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.images", description=__doc__)
    parser.add_argument("--space", choices=sorted(SPACES), action="append")
    parser.add_argument("--before", default=BEFORE, help="git ref of the baseline images")
    parser.add_argument("--runs", type=int, default=5, help="cold starts per image")
    parser.add_argument("--no-build", action="store_true", help="measure the images built last")
    args = parser.parse_args(argv)
    spaces = args.space or list(SPACES)
    results: dict[str, Any] = {"spaces": {}}
    with wheel_server() as wheels, tempfile.TemporaryDirectory() as tmp:
        for space in spaces:
            old = checkout(space, args.before, Path(tmp))
            tags = {"before": f"hf-spaces-bench/{space}:before", "now": f"hf-spaces-bench/{space}"}
            row: dict[str, Any] = {
                "date": machine_info()["date"],
                "load_average": round(os.getloadavg()[0], 2),
            }
            for which, folder in (("before", old), ("now", REPO / "spaces" / space)):
                dockerfile = SPACES[space].get("sdk_dockerfile")
                seconds = (
                    None if args.no_build else round(build(folder, tags[which], wheels, dockerfile))
                )
                row[which] = measure(space, tags[which], args.runs) | {"build_s": seconds}
                print(space, which, row[which], flush=True)
            row["load_average_end"] = round(os.getloadavg()[0], 2)
            results["spaces"][space] = row
    results |= {
        "before": args.before,
        "runs": args.runs,
        "base_gb": round(image_bytes(BASE) / 1e9, 3),
        "machine": machine_info()
        | {"docker": docker("version", "-f", "{{.Server.Version}}").stdout.strip()},
    }
    previous = REPO / "bench" / "results" / "images.json"
    if args.space and previous.is_file():  # a partial run keeps the other Space's figures
        kept = json.loads(previous.read_text())["spaces"]
        results["spaces"] = {
            **{k: v for k, v in kept.items() if k not in spaces},
            **results["spaces"],
        }
    print(write_results("images", results, summary(results)))


if __name__ == "__main__":
    main()
