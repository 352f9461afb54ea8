"""Speed of the RAG Space, measured on real servers: `python -m bench.rag [--quick]`.

- cold start: `python app.py` process start to `/ready` answering 200;
- ingest: chunks/s embedding and indexing the starter collection;
- `/search` latency p50/p95 (sequential) and throughput (4 clients) at the starter size, 1k and
  10k chunks (extra chunks synthesised from the real ones' vectors plus noise);
- `/ask/stream` time to first token and tokens/s, beside raw llama-cpp-python on the same prompt
  in the same run (alternating), giving the overhead ratio of the whole stack.

Writes bench/results/rag.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import httpx
import numpy as np
from httpx_sse import connect_sse

from bench.loadgen import machine_info, percentile, run_load, write_results
from bench.servers import free_port, running
from rag_app.embeddings import load_embeddings
from rag_app.evidence import Evidence
from rag_app.index import DocRecord, Hit, RagIndex
from rag_app.ingest import find_files, ingest_file
from rag_app.llm import GenerationParams, packaged_gguf
from rag_app.prompt import build_messages
from rag_app.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SPACE = REPO / "spaces" / "rag-docker"
QUESTIONS = REPO / "bench" / "rag_questions.jsonl"
PACKAGES = [
    "fastapi",
    "gradio",
    "faiss-cpu",
    "langchain-community",
    "sentence-transformers",
    "llama-cpp-python",
    "torch",
]


def questions() -> list[str]:
    return [json.loads(x)["question"] for x in QUESTIONS.read_text().splitlines() if x.strip()]


def build_index(settings: Settings, folder: Path) -> tuple[RagIndex, dict]:
    """Ingest the starter collection into `folder`; returns the index and the ingest figures."""
    began = time.perf_counter()
    embeddings = load_embeddings(settings)
    load_s = time.perf_counter() - began
    index = RagIndex.create(embeddings, settings.embedding_name)
    began = time.perf_counter()
    for path in find_files([settings.knowledge_dir]):
        ingest_file(index, path, settings)
    seconds = time.perf_counter() - began
    index.save(folder)
    return index, {
        "documents": len(index.manifest.documents),
        "chunks": index.size,
        "seconds": round(seconds, 2),
        "chunks_per_s": round(index.size / seconds, 1),
        "embedding_model_load_s": round(load_s, 2),
    }


def scaled_copy(index: RagIndex, total: int, folder: Path, seed: int = 0) -> Path:
    """A copy of the index padded to `total` chunks with noisy copies of the real vectors."""
    rng = np.random.default_rng(seed)
    real = index.store.index.reconstruct_n(0, index.size)
    texts = [d.page_content for d in index.store.docstore._dict.values()]
    extra = total - index.size
    picks = rng.integers(0, len(real), extra)
    vectors = real[picks] + rng.normal(0, 0.05, (extra, real.shape[1])).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"synthetic-{n:06d}" for n in range(extra)]
    metas = [{"source": "synthetic.txt", "page": None, "chunk_id": i} for i in ids]
    record = DocRecord("synthetic.txt", f"synthetic-{total}", extra, None, ids)
    copy = RagIndex(index.store, index.manifest, index.embeddings)
    with copy.lock:
        copy.add(record, [f"(synthetic) {texts[p]}" for p in picks], vectors.tolist(), metas)
        copy.save(folder)
        copy.store.delete(ids)  # back to the real index for the next size
        copy.manifest.documents.remove(record)
    return folder


def search_latency(url: str, queries: list[str], rounds: int) -> dict:
    """Sequential /search latencies (p50/p95) and 4-client throughput."""
    times = []
    with httpx.Client(timeout=30) as client:
        client.post(f"{url}/search", json={"query": queries[0]})
        for n in range(rounds):
            began = time.perf_counter()
            response = client.post(f"{url}/search", json={"query": queries[n % len(queries)]})
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.text
    payloads = [{"query": q, "top_k": 5} for q in queries]
    load = run_load(f"{url}/search", payloads, concurrency=4, requests=rounds)
    return {
        "requests": rounds,
        "p50_ms": round(percentile(times, 50), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "rps_4_clients": load["rps"],
        "errors_4_clients": load["errors"],
    }


def stream_timing(began: float, first: float | None, tokens: int) -> dict:
    """Time to first token and tokens/s of a stream that began at `began` and ends now."""
    end = time.perf_counter()
    first = first or end
    return {
        "ttft_ms": (first - began) * 1000,
        "tokens": tokens,
        "tokens_per_s": (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0,
    }


def stream_ask(url: str, question: str) -> tuple[dict, dict]:
    """Time to first token and tokens/s of one /ask/stream call seen by the client, and the
    `context` event (the passages and quotes the prompt was built from)."""
    began = time.perf_counter()
    first, tokens, context = None, 0, {}
    with (
        httpx.Client(timeout=120) as client,
        connect_sse(client, "POST", f"{url}/ask/stream", json={"question": question}) as events,
    ):
        for event in events.iter_sse():
            if event.event == "context":
                context = event.json()
            elif event.event == "token":
                tokens += 1
                first = first or time.perf_counter()
    return stream_timing(began, first, tokens), context


def prompt_of(question: str, context: dict) -> list[dict]:
    """The messages the app sent to the LLM, rebuilt from its `context` event."""
    hits = [
        Hit(**{k: s[k] for k in ("source", "page", "chunk_id", "text", "score")})
        for s in context["sources"]
    ]
    return build_messages(question, hits, [Evidence(**e) for e in context["evidence"]])


def raw_llama(llama, messages: list[dict], params: GenerationParams) -> dict:
    """The same prompt straight through llama-cpp-python."""
    began = time.perf_counter()
    first, tokens = None, 0
    for chunk in llama.create_chat_completion(
        messages=messages,
        max_tokens=params.max_tokens,
        temperature=params.temperature,
        repeat_penalty=params.repeat_penalty,
        stop=list(params.stop),
        stream=True,
    ):
        if chunk["choices"][0]["delta"].get("content"):
            tokens += 1
            first = first or time.perf_counter()
    return stream_timing(began, first, tokens)


class RawLlama:
    """Raw llama-cpp-python in its own process (`python -m bench.rag --raw-worker`).

    Not in this process: torch's and llama.cpp's OpenMP thread teams in one process fight over
    the two cores and slow llama.cpp down by an order of magnitude, which would flatter the app.
    """

    def __init__(self, n_ctx: int, n_threads: int, worker: str = "bench.rag") -> None:
        """`worker`: the module whose `--raw-worker` answers the jobs (bench.rag_stream has its
        own, which reads every streamed piece as a client does)."""
        cmd = [sys.executable, "-m", worker, "--raw-worker", str(n_ctx), str(n_threads)]
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, messages: list[dict], params: GenerationParams) -> dict:
        assert self.proc.stdin
        assert self.proc.stdout
        self.proc.stdin.write(json.dumps({"messages": messages, "params": asdict(params)}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def raw_worker(n_ctx: int, n_threads: int) -> None:
    """Read {"messages", "params"} lines on stdin, answer timing lines on stdout."""
    from llama_cpp import Llama

    llama = Llama(model_path=packaged_gguf(), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
    for line in sys.stdin:
        job = json.loads(line)
        params = GenerationParams(**{**job["params"], "stop": tuple(job["params"]["stop"])})
        print(json.dumps(raw_llama(llama, job["messages"], params)), flush=True)


def median(rows: list[dict], key: str) -> float:
    return round(float(np.median([r[key] for r in rows])), 1)


def serve(index_dir: Path) -> tuple[str, object]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "RAG_HOST": "127.0.0.1",
        "RAG_PORT": str(port),
        "RAG_INDEX_DIR": str(index_dir),
        "PYTHONPATH": "",
    }
    ctx = running([sys.executable, "app.py"], cwd=SPACE, ready_url=f"{url}/ready", env=env)
    return url, ctx


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--raw-worker", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.raw_worker:
        raw_worker(*args.raw_worker)
        return
    rounds, asks = (40, 2) if args.quick else (200, 6)
    settings = Settings()
    qs = questions()
    tmp = Path(tempfile.mkdtemp(prefix="bench-rag-"))
    index, ingest = build_index(settings, tmp / "index-starter")
    print("ingest", ingest, flush=True)
    sizes = {"starter": tmp / "index-starter"}
    for total in (1000, 10000):
        sizes[f"{total}"] = scaled_copy(index, total, tmp / f"index-{total}")

    results: dict = {"ingest": ingest, "search": {}, "cold_start_s": {}}
    for name, folder in sizes.items():
        url, ctx = serve(folder)
        with ctx as ready_s:
            chunks = httpx.get(f"{url}/ready").json()["chunks"]
            results["cold_start_s"][name] = round(ready_s, 1)
            results["search"][name] = {"chunks": chunks, **search_latency(url, qs, rounds)}
            print(name, results["cold_start_s"][name], results["search"][name], flush=True)
            if name != "starter":
                continue
            raw = RawLlama(settings.n_ctx, settings.n_threads)
            params = GenerationParams.from_settings(settings)
            app_rows, raw_rows = [], []
            for question in qs[:asks]:
                app, context = stream_ask(url, question)
                if not context["sources"]:  # refused: nothing was generated
                    continue
                app_rows.append(app)
                raw_rows.append(raw.run(prompt_of(question, context), params))
            raw.close()
            results["ask"] = {
                "questions": len(app_rows),
                "top_k": settings.top_k_default,
                "app_ttft_ms": median(app_rows, "ttft_ms"),
                "raw_ttft_ms": median(raw_rows, "ttft_ms"),
                "app_tokens_per_s": median(app_rows, "tokens_per_s"),
                "raw_tokens_per_s": median(raw_rows, "tokens_per_s"),
                "app_tokens": [r["tokens"] for r in app_rows],
                "raw_tokens": [r["tokens"] for r in raw_rows],
            }
            a = results["ask"]
            a["ttft_overhead_ratio"] = round(a["app_ttft_ms"] / a["raw_ttft_ms"], 2)
            a["tokens_per_s_ratio"] = round(a["app_tokens_per_s"] / a["raw_tokens_per_s"], 2)
            print("ask", a, flush=True)
    results["machine"] = machine_info(PACKAGES)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_results("rag", results, summary(results))


def summary(r: dict) -> str:
    i, a = r["ingest"], r["ask"]
    lines = [
        "# RAG Space: speed",
        "",
        f"Ingest of the starter collection: {i['documents']} documents, {i['chunks']} chunks in "
        f"{i['seconds']} s = **{i['chunks_per_s']} chunks/s** (embedding model load "
        f"{i['embedding_model_load_s']} s).",
        "",
        "| index | chunks | cold start to /ready | /search p50 | p95 | rps (4 clients) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in r["search"].items():
        lines.append(
            f"| {name} | {s['chunks']} | {r['cold_start_s'][name]} s | {s['p50_ms']} ms "
            f"| {s['p95_ms']} ms | {s['rps_4_clients']} |"
        )
    lines += [
        "",
        f"`/ask/stream` against raw llama-cpp-python on the same prompt (packaged SmolLM2-135M, "
        f"top_k={a['top_k']}, median of {a['questions']} questions, alternating):",
        "",
        "| | time to first token | tokens/s |",
        "| --- | --- | --- |",
        f"| the Space (HTTP, retrieval, queue, SSE) | {a['app_ttft_ms']} ms "
        f"| {a['app_tokens_per_s']} |",
        f"| raw llama-cpp-python | {a['raw_ttft_ms']} ms | {a['raw_tokens_per_s']} |",
        f"| ratio | {a['ttft_overhead_ratio']} | {a['tokens_per_s_ratio']} |",
        "",
        f"Measured {r['machine']['date']} on {r['machine']['cpu']}, {r['machine']['cores']} cores, "
        f"{r['machine']['memory_gib']} GiB, load average at the end "
        f"{r['machine']['load_average_at_end']} (other jobs share the 2 cores). "
        "Command: `python -m bench.rag`.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
