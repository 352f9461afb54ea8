"""Quality of the RAG Space on bench/rag_questions.jsonl: retrieval and answers.

    python -m bench.rag_eval [--index DIR] [--no-answers] [--limit N]

Retrieval: hit@1, hit@5 and MRR (rank of the first chunk from the document holding the answer).
Answers (the packaged SmolLM2-135M through the real chain): share containing the key phrase, share
citing a passage from the right document, and both. Writes bench/results/rag_eval.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.loadgen import machine_info, write_results

REPO = Path(__file__).resolve().parents[1]
SPACE = REPO / "spaces" / "rag-docker"
QUESTIONS = REPO / "bench" / "rag_questions.jsonl"
PACKAGES = [
    "langchain-community",
    "faiss-cpu",
    "sentence-transformers",
    "llama-cpp-python",
    "torch",
]
if str(SPACE) not in sys.path:
    sys.path.insert(0, str(SPACE))

from rag_app.index import RagIndex, load_embeddings  # noqa: E402
from rag_app.ingest import find_files, ingest_file  # noqa: E402
from rag_app.settings import Settings  # noqa: E402


def load_questions(limit: int | None = None) -> list[dict]:
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def open_index(settings: Settings, index_dir: Path | None) -> RagIndex:
    """The index at index_dir (or RAG_INDEX_DIR); built from knowledge/ in a temp dir if absent."""
    embeddings = load_embeddings(settings.embedding_path, settings.torch_threads)
    folder = index_dir or settings.rag_index_dir
    if (folder / "current").exists():
        return RagIndex.load(folder, embeddings, settings.embedding_name)
    print(f"no index at {folder}: building one from {settings.knowledge_dir}", file=sys.stderr)
    index = RagIndex.create(embeddings, settings.embedding_name)
    for path in find_files([settings.knowledge_dir]):
        ingest_file(index, path, settings)
    index.save(Path(tempfile.mkdtemp()) / "index")
    return index


def retrieval_metrics(index: RagIndex, questions: list[dict], k: int = 5) -> dict:
    """hit@1, hit@k and MRR over the questions, plus the misses."""
    ranks, misses, began = [], [], time.perf_counter()
    for q in questions:
        hits = index.search(q["question"], k)
        rank = next((i for i, h in enumerate(hits, 1) if h.source == q["source"]), None)
        ranks.append(rank)
        if rank != 1:
            misses.append(
                {
                    "question": q["question"],
                    "expected": q["source"],
                    "rank": rank,
                    "got": [h.source for h in hits[:3]],
                }
            )
    n = len(questions)
    return {
        "questions": n,
        "hit@1": round(sum(r == 1 for r in ranks) / n, 3),
        f"hit@{k}": round(sum(r is not None for r in ranks) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
        "seconds_per_query_ms": round((time.perf_counter() - began) / n * 1000, 1),
        "not_first": misses,
    }


def answer_metrics(index: RagIndex, settings: Settings, questions: list[dict]) -> dict:
    """Answers from the packaged model through the real chain, scored by key phrase and citation."""
    from rag_app.chain import RagChain
    from rag_app.llm import GenerationQueue, build_backend

    backend = build_backend(settings)
    queue = GenerationQueue(backend, settings.queue_size, settings.queue_timeout_s)
    chain = RagChain(index, queue, settings)
    rows, phrase, cites, both, any_cite = [], 0, 0, 0, 0
    for q in questions:
        answer = chain.ask(q["question"])
        has_phrase = q["key_phrase"].lower() in answer.answer.lower()
        cited_sources = {answer.sources[n - 1].source for n in answer.cited}
        right = q["source"] in cited_sources
        phrase += has_phrase
        cites += right
        both += has_phrase and right
        any_cite += bool(answer.cited)
        rows.append(
            {
                "question": q["question"],
                "source": q["source"],
                "key_phrase": q["key_phrase"],
                "answer": answer.answer,
                "cited": sorted(cited_sources),
                "key_phrase_found": has_phrase,
                "cites_right_document": right,
                "generation_ms": answer.timings["generation_ms"],
            }
        )
    queue.close()
    n = len(questions)
    return {
        "model": backend.name,
        "top_k": settings.top_k_default,
        "key_phrase": round(phrase / n, 3),
        "cites_right_document": round(cites / n, 3),
        "key_phrase_and_right_citation": round(both / n, 3),
        "cites_anything": round(any_cite / n, 3),
        "median_generation_ms": statistics.median(r["generation_ms"] for r in rows),
        "answers": rows,
    }


def summary(results: dict) -> str:
    r = results["retrieval"]
    lines = [
        "# RAG Space: quality",
        "",
        f"{r['questions']} questions from `bench/rag_questions.jsonl`, embedding model "
        f"`{results['embedding_model']}`, {results['chunks']} chunks "
        f"(chunk size {results['chunk_size']}, overlap {results['chunk_overlap']}).",
        "",
        "| retrieval | value |",
        "| --- | --- |",
        f"| hit@1 | {r['hit@1']} |",
        f"| hit@5 | {r['hit@5']} (target ≥ 0.9) |",
        f"| MRR | {r['mrr']} |",
    ]
    a = results.get("answers")
    if a:
        lines += [
            "",
            f"Answers by `{a['model']}` with top_k={a['top_k']} (the Space's defaults):",
            "",
            "| answers | share |",
            "| --- | --- |",
            f"| contain the key phrase | {a['key_phrase']} |",
            f"| cite a passage of the right document | {a['cites_right_document']} |",
            f"| both | {a['key_phrase_and_right_citation']} |",
            f"| cite anything | {a['cites_anything']} |",
            "",
            f"Median generation time {a['median_generation_ms'] / 1000:.1f} s.",
        ]
    lines += [
        "",
        f"Measured {results['machine']['date']} on {results['machine']['cpu']}, "
        f"{results['machine']['cores']} cores. Command: `python -m bench.rag_eval`.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, help="index folder (default: RAG_INDEX_DIR)")
    parser.add_argument("--no-answers", action="store_true", help="retrieval only")
    parser.add_argument("--limit", type=int, help="first N questions only")
    parser.add_argument("--name", default="rag_eval", help="results file name")
    args = parser.parse_args(argv)
    settings = Settings()
    index = open_index(settings, args.index)
    questions = load_questions(args.limit)
    results = {
        "embedding_model": settings.embedding_name,
        "chunks": index.size,
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "retrieval": retrieval_metrics(index, questions),
    }
    print(json.dumps({k: v for k, v in results["retrieval"].items() if k != "not_first"}))
    if not args.no_answers:
        results["answers"] = answer_metrics(index, settings, questions)
        print(json.dumps({k: v for k, v in results["answers"].items() if k != "answers"}))
    results["machine"] = machine_info(PACKAGES)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_results(args.name, results, summary(results))


if __name__ == "__main__":
    main()
