"""Faults with the real packaged SmolLM2, index and entry points: a generation that runs out of
time, a full LLM queue, a corrupt index file at start-up, and kill -9 in the middle of an ingest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from conftest import free_port, serve
from fastapi.testclient import TestClient
from rag.conftest import OPEN_DEMO, OPEN_DEMO_ENV, SPACE

from rag_app.api import create_app
from rag_app.index import CURRENT, RagIndex, read_manifest
from rag_app.llm import GenerationParams, packaged_gguf
from rag_app.service import RagService
from rag_app.settings import Settings
from tests.rag.test_api import parse_sse

pytestmark = pytest.mark.slow
# The packaged SmolLM2 writes about 330 tokens (seconds) for this with no stop sequences.
LONG_QUESTION = "Explain every setting of a Space's README front matter in detail."
# The worker stops at the next token; a timeout that falls in the prompt's processing (which
# llama-cpp cannot interrupt) waits for its end: seconds on a busy machine, never a whole answer.
FREED_WITHIN_S = 10.0
MOST_TOKENS = 100  # of the 400 allowed (the whole answer is about 330)


def talkative(service: RagService, **overrides: object) -> RagService:
    """The session's index and model, generating long answers, with these settings changed."""
    assert service.queue is not None
    warm_up = [{"role": "user", "content": "Hello"}]  # the first call pages the weights in
    list(service.queue.backend.stream(warm_up, GenerationParams(max_tokens=2)))
    update = {"answer_mode": "generate", "max_tokens": 400, "stop_sequences": [], **OPEN_DEMO}
    settings = service.settings.model_copy(update={**update, **overrides})
    return RagService(settings).load(backend=service.queue.backend, index=service.index)


def wait_until_free(svc: RagService, timeout: float) -> float:
    """Seconds until no generation runs or waits; fails after `timeout`."""
    assert svc.queue is not None
    began = time.perf_counter()
    while svc.queue.pending:
        assert time.perf_counter() - began < timeout, "the LLM worker is still busy"
        time.sleep(0.01)
    return time.perf_counter() - began


def tokens(metrics: str) -> float:
    """rag_tokens_generated_total of a /metrics page."""
    line = next(x for x in metrics.splitlines() if x.startswith("rag_tokens_generated_total "))
    return float(line.split()[1])


@pytest.fixture(scope="module")
def impatient(service: RagService) -> Iterator[TestClient]:
    """The API with RAG_GENERATION_TIMEOUT_S=0.5 over long generations."""
    svc = talkative(service, generation_timeout_s=0.5)
    with TestClient(create_app(svc.settings, svc)) as client:
        yield client
    svc.close()


def test_a_generation_past_the_timeout_is_a_504_and_frees_the_llm(impatient: TestClient) -> None:
    svc: RagService = impatient.app.state.service  # type: ignore[attr-defined]
    began = time.perf_counter()
    response = impatient.post("/ask", json={"question": LONG_QUESTION})
    took = time.perf_counter() - began
    assert response.status_code == 504
    body = response.json()
    assert set(body) == {"message", "detail"}
    assert "RAG_GENERATION_TIMEOUT_S" in body["message"]
    assert "0.5 s" in body["message"]
    assert took < 30  # not the seconds of a whole generation queued behind others
    wait_until_free(svc, FREED_WITHIN_S)
    metrics = impatient.get("/metrics").text
    assert "rag_generation_timeouts_total 1.0" in metrics
    assert tokens(metrics) < MOST_TOKENS  # the generation was stopped, not run to its end


def test_a_stream_past_the_timeout_ends_with_an_error_event(impatient: TestClient) -> None:
    svc: RagService = impatient.app.state.service  # type: ignore[attr-defined]
    with impatient.stream("POST", "/ask/stream", json={"question": LONG_QUESTION}) as response:
        assert response.status_code == 200
        events = parse_sse("".join(response.iter_text()))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "context"
    assert kinds[-1] == "error"
    assert "answer" not in kinds
    assert events[-1][1]["detail"] == "generation_timeout"
    assert "RAG_GENERATION_TIMEOUT_S" in events[-1][1]["message"]
    wait_until_free(svc, FREED_WITHIN_S)
    metrics = impatient.get("/metrics").text
    assert "rag_generation_timeouts_total 2.0" in metrics
    assert tokens(metrics) < 2 * MOST_TOKENS


@pytest.fixture(scope="module")
def one_waiting(service: RagService) -> Iterator[tuple[str, RagService]]:
    """The API on a loopback port (uvicorn in a thread), one generation running and one waiting
    at most (RAG_QUEUE_SIZE=1), each stopped after 20 s at most."""
    svc = talkative(service, queue_size=1, generation_timeout_s=20)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(svc.settings, svc), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", svc
    server.should_exit = True
    thread.join(timeout=15)
    svc.close()


def test_a_full_queue_answers_503_at_once(one_waiting: tuple[str, RagService]) -> None:
    url, svc = one_waiting
    assert svc.queue is not None

    def hold(client: httpx.Client) -> None:  # a real client reading a long answer, until closed
        try:
            with client.stream("POST", f"{url}/ask/stream", json={"question": LONG_QUESTION}) as r:
                for _ in r.iter_lines():
                    pass
        except (httpx.HTTPError, RuntimeError):
            pass

    clients = [httpx.Client(timeout=60) for _ in range(2)]
    readers = [threading.Thread(target=hold, args=(c,), daemon=True) for c in clients]
    try:
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 30
        while svc.queue.pending < 2:  # one generating, one waiting: the queue is full
            assert time.monotonic() < deadline, "the two requests never filled the queue"
            time.sleep(0.01)
        depth = httpx.get(f"{url}/metrics", timeout=10).text
        assert "rag_llm_queue_depth 2.0" in depth
        latencies = []
        with httpx.Client(timeout=10) as asker:  # one connection: the time is the server's
            for _ in range(5):
                began = time.perf_counter()
                refused = asker.post(f"{url}/ask", json={"question": LONG_QUESTION})
                latencies.append(time.perf_counter() - began)
                assert refused.status_code == 503
                assert "the LLM is busy" in refused.json()["message"]
                assert refused.headers["retry-after"] == "5"
        print(f"503 latencies (ms): {[round(s * 1000, 1) for s in latencies]}")
        assert max(latencies) < 0.5  # a generous bound: it never waits for the LLM
    finally:
        for client in clients:
            client.close()  # the readers leave: their generations stop
    wait_until_free(svc, 25)


def copy_index(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def start_space(index_dir: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """`python app.py` on loopback with this index, until it exits (it must not start)."""
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "RAG_HOST": "127.0.0.1",
        "RAG_PORT": str(free_port()),
        "RAG_INDEX_DIR": str(index_dir),
        **extra,
    }
    return subprocess.run(
        [sys.executable, "app.py"], cwd=SPACE, env=env, capture_output=True, text=True, timeout=120
    )


def npy_file(index_dir: Path) -> str:
    return str(
        next(iter(sorted((index_dir / CURRENT / "bm25").glob("*.npy")))).relative_to(
            index_dir / CURRENT
        )
    )


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("manifest.json", "garbage"),
        ("index.faiss", "truncate"),
        ("index.pkl", "truncate"),
        ("bm25/terms.json", "garbage"),
        ("bm25/*.npy", "truncate"),
    ],
)
def test_a_corrupt_index_file_stops_the_space_with_one_line_naming_it(
    index_copy: Path, tmp_path: Path, name: str, damage: str
) -> None:
    index_dir = copy_index(index_copy, tmp_path / "index")
    if name == "bm25/*.npy":
        name = npy_file(index_dir)
    broken = index_dir / CURRENT / name
    data = broken.read_bytes()
    broken.unlink()  # a real file, not a link into the shared copy
    broken.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"{not json" * 20)
    result = start_space(index_dir)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    assert Path(name).name in errors[0]
    assert str(index_dir) in errors[0]


@pytest.mark.parametrize("damage", ["not-gguf", "truncated"])
def test_a_broken_llm_file_stops_the_space_with_one_line_naming_it(
    index_copy: Path, tmp_path: Path, damage: str
) -> None:
    model = tmp_path / "model.gguf"
    if damage == "not-gguf":
        model.write_text("<html>a login page saved instead of the model</html>")
    else:
        whole = Path(packaged_gguf()).read_bytes()
        model.write_bytes(whole[: len(whole) - 4096])  # a download cut short
    result = start_space(copy_index(index_copy, tmp_path / "index"), RAG_LLM_MODEL_PATH=str(model))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    assert str(model) in errors[0]
    assert ("not a GGUF" if damage == "not-gguf" else "truncated") in errors[0]


NEW_DOCS = 30


@pytest.fixture
def new_documents(tmp_path: Path) -> Path:
    """Thirty new Markdown notes, about 3 KB each: an ingest of several seconds."""
    folder = tmp_path / "notes"
    folder.mkdir()
    for n in range(NEW_DOCS):
        lines = [f"# Field note {n}", ""]
        lines += [
            f"Observation {n}.{k}: the heron counted {n * 7 + k} fish near pier {k % 5} "
            f"while the tide rose {k} centimetres and the wind turned {('north', 'south')[k % 2]}."
            for k in range(25)
        ]
        (folder / f"note-{n:02d}.md").write_text("\n\n".join(lines))
    return folder


def ingest(index_dir: Path, docs: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rag_app.ingest", "--index", str(index_dir), str(docs)],
        cwd=SPACE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when(proc: subprocess.Popen[str], needle: str, delay: float, timeout: float = 120) -> str:
    """SIGKILL the process `delay` seconds after its stderr shows `needle`; returns what it
    wrote until then."""
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        assert time.monotonic() < deadline, f"{needle!r} never came: {seen[-500:]}"
        char = proc.stderr.read(1)
        assert char, f"the ingest ended before {needle!r}: {seen[-500:]}"
        seen += char
    time.sleep(delay)
    assert proc.poll() is None, "the ingest ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    return seen


@pytest.mark.parametrize(
    ("moment", "delay"),
    [("documents:", 3.0), ("writing index to", 0.0)],  # while embedding; as the save begins
)
def test_kill_9_mid_ingest_keeps_the_previous_index_and_a_retry_works(
    index_copy: Path, tmp_path: Path, embeddings, new_documents: Path, moment: str, delay: float
) -> None:
    index_dir = copy_index(index_copy, tmp_path / "index")
    name = Settings().embedding_name
    before = [d.source for d in read_manifest(index_dir).documents]
    kill_when(ingest(index_dir, new_documents), moment, delay)
    survivor = RagIndex.load(index_dir, embeddings, name)  # loadable, and unchanged
    assert [d.source for d in survivor.manifest.documents] == before
    retry = ingest(index_dir, new_documents)
    _, err = retry.communicate(timeout=300)
    assert retry.returncode == 0, err[-2000:]
    after = RagIndex.load(index_dir, embeddings, name)
    sources = [d.source for d in after.manifest.documents]
    assert sources[: len(before)] == before
    assert sorted(sources[len(before) :]) == [f"note-{n:02d}.md" for n in range(NEW_DOCS)]
    leftovers = [p.name for p in index_dir.iterdir() if p.name.startswith((".tmp", ".current"))]
    assert leftovers == []  # the interrupted save's files were cleaned up
    assert json.loads((index_dir / CURRENT / "manifest.json").read_text())["documents"]


def test_kill_9_mid_upload_keeps_the_previous_index_and_the_upload_is_retryable(
    index_copy: Path, tmp_path: Path, embeddings
) -> None:
    copy = tmp_path / SPACE.name
    shutil.copytree(SPACE, copy, ignore=shutil.ignore_patterns("__pycache__", "index"))
    index_dir = copy_index(index_copy, copy / "index")
    before = [d.source for d in read_manifest(index_dir).documents]
    lines = ["# Heron field log", ""] + [
        f"Entry {k}: the heron counted {k * 3} fish near pier {k % 7} at dawn, tide {k % 11} cm."
        for k in range(1200)
    ]
    document = "\n\n".join(lines).encode()  # about 100 KB: an ingest of many seconds
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "RAG_HOST": "127.0.0.1",
        "RAG_PORT": str(port),
        "PYTHONPATH": "",
        "RAG_INDEX_DIR": str(index_dir),
        **OPEN_DEMO_ENV,
    }
    files = {"files": ("heron-log.md", document, "text/markdown")}
    cmd = [sys.executable, "app.py"]
    outcome: list[object] = []

    def upload() -> None:
        try:
            outcome.append(httpx.post(f"{url}/documents", files=files, timeout=120))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    with serve(cmd, cwd=copy, env=env, ready_url=f"{url}/ready", timeout=180) as proc:
        uploading = threading.Thread(target=upload)
        uploading.start()
        time.sleep(3)  # the server is embedding the document's chunks
        os.killpg(proc.pid, signal.SIGKILL)
        uploading.join(timeout=30)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    assert isinstance(outcome[0], httpx.HTTPError), "the upload finished before the kill"
    survivor = RagIndex.load(index_dir, embeddings, Settings().embedding_name)
    assert [d.source for d in survivor.manifest.documents] == before
    with serve(cmd, cwd=copy, env=env, ready_url=f"{url}/ready", timeout=180):
        retry = httpx.post(f"{url}/documents", files=files, timeout=300)
        assert retry.status_code == 201, retry.text
        assert [r["status"] for r in retry.json()["results"]] == ["added"]
        listed = httpx.get(f"{url}/documents", timeout=30).json()["documents"]
        assert [d["source"] for d in listed] == [*before, "heron-log.md"]
