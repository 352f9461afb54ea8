"""The container-platform contract, checked on each Docker Space's image the way Google Cloud Run
runs a container (ECS/Fargate and Inference Endpoints ask no more): the port comes from $PORT, a
non-root user, a read-only root filesystem with a writable /tmp (the RAG index on a volume), 2 GiB
of memory and one CPU, ready within the image's cold-start budget, correct answers, and on
`docker stop` (SIGTERM, then SIGKILL after 10 s) the requests in flight finish and the process
exits 0. The flags are the ones docs/containers.md shows; the first test keeps the two equal."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from conftest import REPO, SPACE_IMAGES, free_port

DOC = REPO / "docs" / "containers.md"
# What every platform gives a container, as `docker run` flags.
PLATFORM_FLAGS = ("--read-only", "--tmpfs", "/tmp", "--memory", "2g", "--cpus", "1")
STOP_SECONDS = 10  # the grace between SIGTERM and SIGKILL: Cloud Run's and ECS's default
MARGIN = 3  # the cold-start budgets hold on a quiet machine; this one is shared with other jobs
RAG_KEY = "contract-test-key"
QUESTION = "After how long without traffic does a free Space fall asleep?"


@dataclass(frozen=True)
class Contract:
    """How a container platform runs one Space's image."""

    flags: tuple[str, ...] = ()  # beyond PLATFORM_FLAGS and the port
    command: tuple[str, ...] = ()  # after the image; empty: the image's CMD
    cold_start_s: float = 5.0  # budget from `docker run` to the first 200 from /ready
    test_env: tuple[str, ...] = ()  # what the test adds to try more (not in the doc's line)


CONTRACTS = {
    # A platform serves the JSON API; the Space's CMD is the Streamlit demo.
    "sentiment-streamlit": Contract(command=("python", "-m", "sentiment_app", "api")),
    # The index on a volume, where uploads go; a new named volume starts as a copy of the
    # image's /app/index. A key opens uploads (POST /documents).
    "rag-docker": Contract(
        flags=("--mount", "type=volume,source=rag-index,target=/app/index"),
        cold_start_s=8.0,
        test_env=("-e", f"RAG_API_KEY={RAG_KEY}"),
    ),
}


def run_args(space: str, image: str, port: int, volume: str = "rag-index") -> list[str]:
    """`docker run` arguments (after `run`) for `space`: $PORT published on loopback, the
    platform's limits, the Space's own flags, then the image and its command."""
    contract = CONTRACTS[space]
    flags = [f.replace("source=rag-index,", f"source={volume},") for f in contract.flags]
    port_flags = ["-e", f"PORT={port}", "-p", f"127.0.0.1:{port}:{port}"]
    return [*port_flags, *PLATFORM_FLAGS, *flags, image, *contract.command]


def documented_command(space: str) -> str:
    """The `docker run` line docs/containers.md shows for `space` (port 8080, Cloud Run's)."""
    return " ".join(["docker", "run", "--rm", *run_args(space, f"$REGISTRY/{space}:$TAG", 8080)])


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    run = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0 or not check, f"docker {' '.join(args)}: {run.stderr[-2000:]}"
    return run


def test_the_doc_shows_the_flags_the_contract_runs() -> None:
    """The `docker run` lines of docs/containers.md's contract section are the ones this test
    runs, flag for flag."""
    text = DOC.read_text().split("\n## 2.")[1].split("\n## 3.")[0].replace("\\\n", " ")
    lines = {" ".join(m.split()) for m in re.findall(r"^docker run .*$", text, re.M)}
    assert lines == {documented_command(space) for space in CONTRACTS}
    assert set(CONTRACTS) == set(SPACE_IMAGES)  # every Docker Space is under contract


@dataclass
class Running:
    """A container started with the contract's flags, and its cold start."""

    space: str
    name: str
    url: str
    ready_s: float
    headers: dict[str, str]


def wait_ready(url: str, name: str, timeout: float = 180) -> None:
    """Poll /ready until 200; fail with the container's logs if it stops or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() != "true":
            break
        time.sleep(0.1)
    logs = docker("logs", name, check=False)
    pytest.fail(f"{name} not ready within {timeout} s:\n{(logs.stdout + logs.stderr)[-3000:]}")


@pytest.fixture(scope="module", params=sorted(CONTRACTS))
def running(request: pytest.FixtureRequest, space_image: Callable[[str], str]) -> Iterator[Running]:
    """The Space's image (built once per session) run as a platform runs it."""
    space = request.param
    image = space_image(space)
    port = free_port()
    name, volume = f"contract-{space}-{port}", f"contract-index-{port}"
    began = time.monotonic()
    extra = ["-d", "--name", name, *CONTRACTS[space].test_env]
    docker("run", *extra, *run_args(space, image, port, volume))
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, name)
        ready_s = time.monotonic() - began
        print(f"\n{documented_command(space)}\n{space}: /ready 200 {ready_s:.2f} s after it")
        headers = {"Authorization": f"Bearer {RAG_KEY}"} if space == "rag-docker" else {}
        yield Running(space, name, url, ready_s, headers)
    finally:
        docker("rm", "-f", name, check=False)
        docker("volume", "rm", "-f", volume, check=False)


def exec_in(running: Running, *cmd: str) -> subprocess.CompletedProcess:
    return docker("exec", running.name, *cmd, check=False)


@pytest.mark.docker
@pytest.mark.slow
def test_port_user_filesystem_and_limits(running: Running) -> None:
    """It answered on $PORT (the fixture), and so does its HEALTHCHECK; it is not root; its root
    filesystem is read-only but /tmp; it has 2 GiB and one CPU."""
    assert exec_in(running, "id", "-u").stdout.strip() not in {"", "0"}
    healthcheck = docker("inspect", "-f", "{{json .Config.Healthcheck.Test}}", running.name)
    check = json.loads(healthcheck.stdout)
    command = check[1:] if check[0] == "CMD" else ["sh", "-c", check[1]]
    assert exec_in(running, *command).returncode == 0  # the image's HEALTHCHECK finds $PORT too
    denied = exec_in(running, "touch", "/app/written")
    assert denied.returncode != 0
    assert "Read-only file system" in denied.stderr
    assert exec_in(running, "touch", "/tmp/written").returncode == 0
    fmt = "{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}"
    assert docker("inspect", "-f", fmt, running.name).stdout.split() == [
        "true",
        str(2 * 1024**3),
        str(10**9),
    ]
    if running.space == "rag-docker":
        mounts = docker("inspect", "-f", "{{json .Mounts}}", running.name).stdout
        assert '"Type":"volume"' in mounts
        assert '"Destination":"/app/index"' in mounts
        assert exec_in(running, "test", "-w", "/app/index").returncode == 0


@pytest.mark.docker
@pytest.mark.slow
def test_ready_within_the_cold_start_budget(running: Running) -> None:
    budget = CONTRACTS[running.space].cold_start_s
    print(f"\n{running.space}: cold start {running.ready_s:.2f} s (budget {budget} s)")
    assert running.ready_s <= budget * MARGIN


def sentiment_answers(url: str) -> None:
    good = httpx.post(f"{url}/sentiment", json={"text": "A wonderful, moving film."}, timeout=60)
    bad = httpx.post(f"{url}/sentiment", json={"text": "Dull, ugly and far too long."}, timeout=60)
    assert (good.status_code, good.json()["label"]) == (200, "POSITIVE")
    assert (bad.status_code, bad.json()["label"]) == (200, "NEGATIVE")


def rag_answers(url: str, headers: dict[str, str]) -> None:
    answer = httpx.post(f"{url}/ask", json={"question": QUESTION}, headers=headers, timeout=120)
    assert answer.status_code == 200, answer.text
    assert "48 hours" in answer.json()["answer"]
    assert answer.json()["sources"][0]["source"] == "spaces-hardware-and-lifecycle.txt"


@pytest.mark.docker
@pytest.mark.slow
def test_serves_correctly(running: Running) -> None:
    if running.space == "sentiment-streamlit":
        sentiment_answers(running.url)
        return
    rag_answers(running.url, running.headers)
    # An upload lands in the index on the volume, the only writable place besides /tmp.
    note = ("contract-note.txt", b"The contract test's marker word is quarkbeacon.", "text/plain")
    added = httpx.post(
        f"{running.url}/documents", files={"files": note}, headers=running.headers, timeout=120
    )
    assert added.status_code == 201, added.text
    hits = httpx.post(
        f"{running.url}/search", json={"query": "quarkbeacon", "top_k": 1}, headers=running.headers
    )
    assert hits.json()["results"][0]["source"] == "contract-note.txt"
    listing = exec_in(running, "grep", "-rl", "contract-note.txt", "/app/index")
    assert "manifest.json" in listing.stdout, listing.stderr


def batch_passes(url: str) -> float:
    """Forward passes the sentiment model has made (its /metrics)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.search(r"^sentiment_batch_size_count (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def start_in_flight(running: Running) -> tuple[threading.Thread, dict]:
    """Send a request that takes a few passes of the model and return once the server is working
    on it: sentiment, 256 reviews (8 passes of 32) after its first pass; RAG, a streamed answer
    after its first event (the sources), while the LLM generates."""
    result: dict = {}
    begun = threading.Event()
    if running.space == "sentiment-streamlit":
        review = "The plot was slow at first, but the acting and the music won me over in the end."
        texts = [f"{i}. {review}" for i in range(256)]
        before = batch_passes(running.url)

        def send() -> None:
            url = f"{running.url}/sentiment/batch"
            result["response"] = httpx.post(url, json={"texts": texts}, timeout=60)
            result["at"] = time.monotonic()

        sender = threading.Thread(target=send)
        sender.start()
        deadline = time.monotonic() + 60
        while batch_passes(running.url) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        return sender, result

    def stream() -> None:
        body = {"question": QUESTION}
        url = f"{running.url}/ask/stream"
        with httpx.stream("POST", url, json=body, headers=running.headers, timeout=60) as reply:
            events = []
            for line in reply.iter_lines():
                if line.startswith("event:"):
                    events.append(line.split(":", 1)[1].strip())
                    begun.set()
            result["response"], result["events"] = reply, events
        result["at"] = time.monotonic()

    sender = threading.Thread(target=stream)
    sender.start()
    assert begun.wait(timeout=60), "the stream sent no event"
    return sender, result


@pytest.mark.docker
@pytest.mark.slow
def test_sigterm_drains_the_request_in_flight_and_exits_0(running: Running) -> None:
    """`docker stop -t 10` (SIGTERM, SIGKILL 10 s later) while a request is being served: it
    ends with 200, complete, and the container exits by itself with code 0 before the SIGKILL."""
    sender, result = start_in_flight(running)
    stop_at = time.monotonic()
    stop = docker("stop", "-t", str(STOP_SECONDS), running.name, timeout=60)
    stopped_s = time.monotonic() - stop_at
    sender.join(timeout=60)
    state = docker("inspect", "-f", "{{.State.ExitCode}} {{.State.OOMKilled}}", running.name)
    logs = docker("logs", running.name, check=False)
    tail = (logs.stdout + logs.stderr)[-2000:]
    print(f"\n{running.space}: exited {stopped_s:.2f} s after SIGTERM, code {state.stdout}")
    assert stop.returncode == 0
    response = result.get("response")
    assert isinstance(response, httpx.Response), tail
    assert response.status_code == 200, tail
    assert result["at"] > stop_at, "the request ended before SIGTERM: it was not in flight"
    if running.space == "sentiment-streamlit":
        assert len(response.json()["results"]) == 256
    else:
        assert result["events"][-1] == "answer", result["events"]
    assert state.stdout.split() == ["0", "false"], tail
    assert stopped_s < STOP_SECONDS, "the container was killed, it did not exit by itself"
