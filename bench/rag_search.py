"""Where a RAG /search spends its time at 10k chunks, the retrieval code now against an older one.

python -m bench.rag_search [--before REV] [--chunks 10000] [--rounds 3]
    (from the repo root; writes bench/results/rag_search.json and rag_search.md)

The starter collection is ingested once and padded to --chunks with noisy copies of its chunks
(bench.rag.scaled_copy). Then, in the same run, for the Space as it is and (with --before) for
a copy whose retrieval code (BEFORE_FILES) is as it was at REV, alternating round by round:

- in process, each stage of `Retriever.search` per distinct question of bench/rag_questions.jsonl:
  query terms, query embedding (ONNX), FAISS, BM25, the retriever's ranking (its own FAISS
  search, BM25 and fusion) with the hits, the relevance terms, and the whole `search`;
- over HTTP, POST /search (top_k 5) on the Space's own server (`python app.py`), sequential.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.loadgen import machine_info, percentile, write_results
from bench.servers import free_port, running

REPO = Path(__file__).resolve().parents[1]
SPACE = REPO / "spaces" / "rag-docker"
BEFORE_FILES = ("rag_app/keywords.py", "rag_app/retrieval.py", "rag_app/embeddings.py")
STAGES = ("terms", "embed", "faiss", "bm25", "rank_hits", "relevance", "search")


def stage_times(index_dir: Path, queries: list[str]) -> dict[str, list[float]]:
    """Milliseconds of each stage of a search, per query (run inside the Space's folder)."""
    import numpy as np

    from rag_app import retrieval
    from rag_app.embeddings import load_embeddings
    from rag_app.index import RagIndex, indexed_text
    from rag_app.keywords import terms, tokenize
    from rag_app.settings import Settings

    settings = Settings(rag_index_dir=index_dir)
    index = RagIndex.load(index_dir, load_embeddings(settings), settings.embedding_name)
    retriever = retrieval.Retriever(index, settings)
    depth = settings.retrieval_candidates
    times: dict[str, list[float]] = {s: [] for s in STAGES}
    retriever.search(queries[0], 5)  # warm-up
    for query in queries:
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            times[stage].append((now - clock) * 1000)
            clock = now

        words = tokenize([query])[0]
        lap("terms")
        vector = index.embeddings.embed_query(query)
        lap("embed")
        index.nearest(vector, depth)
        lap("faiss")
        keyword = index.keywords.scores(words)
        np.argsort(-keyword)[:depth]
        lap("bm25")
        hits = [index.hit(p, c) for p, c, _ in retriever._rank(vector, words, depth)][:5]
        lap("rank_hits")
        for hit in hits:
            index.keywords.coverage(set(words), terms(indexed_text(hit.text, hit.heading)))
        lap("relevance")
        retriever.search(query, 5)
        lap("search")
    return times


def measure_in_process(space: Path, index_dir: Path, queries: list[str]) -> dict:
    """`stage_times` in a fresh process importing the Space's package from `space`."""
    code = (
        "import json, sys; from pathlib import Path; from bench.rag_search import stage_times; "
        "print(json.dumps(stage_times(Path(sys.argv[1]), json.loads(sys.argv[2]))))"
    )
    env = {**os.environ, "PYTHONPATH": f"{space}{os.pathsep}{REPO}"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(index_dir), json.dumps(queries)],
        cwd=space,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure_http(space: Path, index_dir: Path, queries: list[str]) -> list[float]:
    """Milliseconds of each sequential POST /search on the Space's own server."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "RAG_HOST": "127.0.0.1",
        "RAG_PORT": str(port),
        "RAG_INDEX_DIR": str(index_dir),
        "PYTHONPATH": "",
    }
    times = []
    server = running([sys.executable, "app.py"], space, f"{url}/ready", env=env)
    with server, httpx.Client(timeout=30) as client:
        for query in queries[:5]:  # warm-up
            client.post(f"{url}/search", json={"query": query, "top_k": 5})
        for query in queries:
            began = time.perf_counter()
            response = client.post(f"{url}/search", json={"query": query, "top_k": 5})
            times.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()
    return times


def export_before(rev: str, into: Path) -> Path:
    """A copy of the Space with BEFORE_FILES as they were at git `rev`."""
    copy = into / SPACE.name
    shutil.copytree(SPACE, copy, ignore=shutil.ignore_patterns("__pycache__", "index", "knowledge"))
    (copy / "knowledge").symlink_to(SPACE / "knowledge")
    for name in BEFORE_FILES:
        text = subprocess.run(
            ["git", "show", f"{rev}:spaces/rag-docker/{name}"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
        (copy / name).write_bytes(text)
    return copy


def build(folder: Path, chunks: int) -> Path:
    """The starter collection padded to `chunks` chunks, saved under `folder`."""
    from bench.rag import build_index, scaled_copy
    from rag_app.settings import Settings

    index, _ = build_index(Settings(), folder / "starter")
    return scaled_copy(index, chunks, folder / f"index-{chunks}")


def main() -> None:
    from bench.rag import questions

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", help="also run the retrieval code as it was at this revision")
    args = parser.parse_args()
    queries = list(dict.fromkeys(questions()))
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        index_dir = build(tmp_path, args.chunks)
        spaces = {"now": SPACE}
        if args.before:
            spaces["before"] = export_before(args.before, tmp_path)
        stages: dict[str, dict[str, list[float]]] = {n: {s: [] for s in STAGES} for n in spaces}
        http: dict[str, list[float]] = {n: [] for n in spaces}
        loads = []
        for r in range(args.rounds):
            loads.append(os.getloadavg()[0])
            for name in list(spaces)[:: 1 if r % 2 == 0 else -1]:  # alternate who goes first
                for stage, values in measure_in_process(spaces[name], index_dir, queries).items():
                    stages[name][stage] += values
                http[name] += measure_http(spaces[name], index_dir, queries)
                print(name, r, statistics.median(http[name]), flush=True)
        loads.append(os.getloadavg()[0])
    report(args, len(queries), stages, http, loads)


def report(args, n_queries: int, stages: dict, http: dict, loads: list[float]) -> None:
    def p50(values: list[float]) -> float:
        return round(percentile(values, 50), 2)

    results = {
        "benchmark": f"RAG /search at {args.chunks} chunks: stages in process, and over HTTP",
        "machine": machine_info(["onnxruntime", "faiss-cpu", "bm25s", "numpy", "fastapi"]),
        "before": args.before,
        "queries": n_queries,
        "rounds": args.rounds,
        "load_average_1min": loads,
        "stages_p50_ms": {n: {s: p50(v) for s, v in st.items()} for n, st in stages.items()},
        "http_search_ms": {
            n: {"p50": p50(v), "p95": round(percentile(v, 95), 2), "requests": len(v)}
            for n, v in http.items()
        },
    }
    m = results["machine"]
    names = list(stages)
    lines = [
        f"# RAG /search at {args.chunks} chunks: where the time goes",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
        f"{m['date']}; " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
        "",
        f"`python -m bench.rag_search`: the starter collection padded to {args.chunks} chunks; "
        f"{n_queries} distinct questions (bench/rag_questions.jsonl), top_k 5, {args.rounds} "
        "rounds alternating "
        + (
            f"the code as it is (`now`) and `before` ({', '.join(BEFORE_FILES)} as they were at "
            f"`{args.before}`)"
            if args.before
            else "(one version)"
        )
        + "; every figure is a median over all queries and rounds. 1-min load average at each "
        "round's start and at the end: "
        + ", ".join(f"{x:.2f}" for x in loads)
        + " (2 cores, shared with other jobs).",
        "",
        "| POST /search over HTTP | " + " | ".join(names) + " |",
        "| --- |" + " --- |" * len(names),
        "| p50 ms | " + " | ".join(str(results["http_search_ms"][n]["p50"]) for n in names) + " |",
        "| p95 ms | " + " | ".join(str(results["http_search_ms"][n]["p95"]) for n in names) + " |",
        "",
        "Stages in process: `rank_hits` is the retriever's own ranking (a second FAISS search, "
        "BM25, fusion) and the hits; `search` is the whole `Retriever.search`.",
        "",
        "| stage (in process), p50 ms | " + " | ".join(names) + " |",
        "| --- |" + " --- |" * len(names),
    ]
    for stage in STAGES:
        cells = [str(results["stages_p50_ms"][n][stage]) for n in names]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    path = write_results("rag_search", results, "\n".join(lines))
    print("\n".join(lines))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
