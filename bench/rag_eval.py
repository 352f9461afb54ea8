"""Quality of the RAG Space: retrieval, quoted evidence, answers and refusals, through its real API.

    python -m bench.rag_eval [--index DIR] [--modes auto,generate,extract] [--limit N]
                             [--squad N] [--llm-path GGUF] [--name NAME]

- Retrieval over `bench/rag_questions.jsonl` (97 questions, each with its source document and a key
  phrase), hybrid and dense side by side: hit@1, hit@5, MRR, and whether the top passage holds the
  key phrase.
- Answers from `POST /ask` (the Space's FastAPI app in process, with the packaged SmolLM2 unless
  --llm-path), for each answer mode: the answer holds the key phrase, the first quote holds it,
  the answer cites a passage of the right document, false refusals, median and p90 latency.
- Refusals: `bench/rag_out_of_scope.jsonl`, questions no document covers, must get "I don't know".
- --squad N: a held-out check on public data the project never tuned on (SQuAD v1.1 dev, from
  ../shared/eval): N articles become the collection, their questions are asked, and questions of
  other articles must be refused. Gold answers are matched case-insensitively.

Writes bench/results/<name>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bench.loadgen import machine_info, percentile, write_results
from rag_app.api import create_app
from rag_app.embeddings import load_embeddings
from rag_app.index import RagIndex
from rag_app.ingest import find_files, ingest_file
from rag_app.retrieval import Retriever
from rag_app.service import RagService
from rag_app.settings import Settings

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = REPO / "bench" / "rag_questions.jsonl"
OUT_OF_SCOPE = REPO / "bench" / "rag_out_of_scope.jsonl"
SQUAD = REPO.parent / "shared" / "eval" / "squad-dev-v1.1.json"
PACKAGES = [
    "langchain-community",
    "faiss-cpu",
    "bm25s",
    "sentence-transformers",
    "llama-cpp-python",
]
MODES = ("auto", "generate", "extract")


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def build_index(settings: Settings, files: list[Path], folder: Path) -> RagIndex:
    """Ingest files into a new index saved in folder, through the Space's own ingest code."""
    embeddings = load_embeddings(settings)
    index = RagIndex.create(embeddings, settings.embedding_name)
    for path in files:
        ingest_file(index, path, settings)
    index.save(folder)
    return index


def open_index(settings: Settings, index_dir: Path | None) -> RagIndex:
    """The index at index_dir (or RAG_INDEX_DIR); built from knowledge/ in a temp dir if absent."""
    folder = index_dir or settings.rag_index_dir
    if (folder / "current").exists():
        embeddings = load_embeddings(settings)
        return RagIndex.load(folder, embeddings, settings.embedding_name)
    files = find_files([settings.knowledge_dir])
    return build_index(settings, files, Path(tempfile.mkdtemp()) / "index")


def retrieval_metrics(index: RagIndex, settings: Settings, questions: list[dict]) -> dict:
    """hit@1, hit@5, MRR and key phrase in the top passage, per retrieval mode."""
    out: dict[str, Any] = {}
    for mode in ("hybrid", "dense"):
        retriever = Retriever(index, settings.model_copy(update={"retrieval": mode}))
        ranks, phrase, began = [], 0, time.perf_counter()
        for q in questions:
            hits = retriever.search(q["question"], 5).hits
            ranks.append(next((i for i, h in enumerate(hits, 1) if h.source == q["source"]), None))
            phrase += q["key_phrase"].lower() in hits[0].text.lower()
        n = len(questions)
        out[mode] = {
            "hit@1": round(sum(r == 1 for r in ranks) / n, 3),
            "hit@5": round(sum(r is not None for r in ranks) / n, 3),
            "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
            "top_passage_has_key_phrase": round(phrase / n, 3),
            "ms_per_query": round((time.perf_counter() - began) / n * 1000, 1),
            "missed_at_5": [q["question"] for q, r in zip(questions, ranks, strict=True) if not r],
        }
    return out


@contextmanager
def api(index: RagIndex, settings: Settings) -> Iterator[TestClient]:
    """The Space's API app over this index and the configured LLM."""
    service = RagService(settings).load(index=index)
    try:
        unlimited = settings.model_copy(update={"rate_limit": "none", "rate_limits": {}})
        with TestClient(create_app(unlimited, service)) as client:  # one client, many questions
            yield client
    finally:
        service.close()


def ask(client: TestClient, question: str) -> tuple[dict, float]:
    began = time.perf_counter()
    response = client.post("/ask", json={"question": question})
    response.raise_for_status()
    return response.json(), time.perf_counter() - began


def median_of(rows: list[dict], key: str) -> float | None:
    return round(statistics.median(r[key] for r in rows), 1) if rows else None


def answer_metrics(client: TestClient, questions: list[dict]) -> dict:
    """Key phrase in the answer and in the first quote, right citation, refusals, latency."""
    rows, seconds = [], []
    for q in questions:
        body, took = ask(client, q["question"])
        seconds.append(took)
        phrase = q["key_phrase"].lower()
        cited = {body["sources"][n - 1]["source"] for n in body["cited"]}
        quote = body["evidence"][0]["text"] if body["evidence"] else ""
        rows.append(
            {
                "question": q["question"],
                "key_phrase": q["key_phrase"],
                "answer": body["answer"],
                "kind": body["kind"],
                "answer_has_key_phrase": phrase in body["answer"].lower(),
                "quote_has_key_phrase": phrase in quote.lower(),
                "cites_right_document": q["source"] in cited,
                "seconds": round(took, 3),
                "timings": body["timings"],
            }
        )
    n = len(rows)

    def share(key: str) -> float:
        return round(sum(r[key] for r in rows) / n, 3)

    kinds = [r["kind"] for r in rows]
    generated = [r["timings"] for r in rows if r["timings"]["tokens"] > 1]
    return {
        "answer_has_key_phrase": share("answer_has_key_phrase"),
        "quote_has_key_phrase": share("quote_has_key_phrase"),
        "cites_right_document": share("cites_right_document"),
        "false_refusals": round(kinds.count("refused") / n, 3),
        "kinds": {k: kinds.count(k) for k in ("generated", "quoted", "refused")},
        "median_s": round(statistics.median(seconds), 2),
        "p90_s": round(percentile(seconds, 90), 2),
        "median_first_token_ms": median_of(generated, "first_token_ms"),
        "median_tokens_per_s": median_of(generated, "tokens_per_s"),
        "answers": rows,
    }


def refusal_metrics(client: TestClient, questions: list[dict]) -> dict:
    """Share of out-of-scope questions answered with the fixed "I don't know"."""
    refused = [
        q["question"] for q in questions if ask(client, q["question"])[0]["kind"] == "refused"
    ]
    answered = [q["question"] for q in questions if q["question"] not in refused]
    return {
        "questions": len(questions),
        "refused": round(len(refused) / len(questions), 3),
        "answered": answered,
    }


def squad_collection(articles: int, folder: Path) -> tuple[list[Path], list[dict], list[dict]]:
    """The first `articles` SQuAD dev articles as .txt files, their questions, and questions
    from the next articles (out of scope for this collection)."""
    data = json.loads(SQUAD.read_text())["data"]
    files, inside, outside = [], [], []
    for n, article in enumerate(data[: articles * 2]):
        questions = [
            {"question": qa["question"], "answers": [a["text"] for a in qa["answers"]]}
            for p in article["paragraphs"]
            for qa in p["qas"]
        ]
        if n < articles:
            path = folder / f"{article['title']}.txt"
            title = article["title"].replace("_", " ")
            paragraphs = [p["context"] for p in article["paragraphs"]]
            path.write_text(title + "\n\n" + "\n\n".join(paragraphs) + "\n")
            files.append(path)
            inside += [dict(q, source=path.name) for q in questions[::10]]
        else:
            outside += questions[:2]
    return files, inside, outside


def squad_metrics(settings: Settings, articles: int) -> dict:
    """Held-out check: answers, quotes and refusals on SQuAD v1.1 dev (never tuned on)."""
    folder = Path(tempfile.mkdtemp())
    files, inside, outside = squad_collection(articles, folder)
    index = build_index(settings, files, folder / "index")
    rows = []
    with api(index, settings) as client:
        for q in inside:
            body, took = ask(client, q["question"])
            golds = [a.lower() for a in q["answers"]]
            quote = body["evidence"][0]["text"].lower() if body["evidence"] else ""
            top = body["sources"][0] if body["sources"] else {"source": "", "text": ""}
            rows.append(
                {
                    "answer": any(g in body["answer"].lower() for g in golds),
                    "quote": any(g in quote for g in golds),
                    "top_passage": any(g in top["text"].lower() for g in golds),
                    "right_article": top["source"] == q["source"],
                    "refused": body["kind"] == "refused",
                    "seconds": took,
                }
            )
        refusals = refusal_metrics(client, outside)
    n = len(rows)
    return {
        "articles": articles,
        "chunks": index.size,
        "questions": n,
        **{k: round(sum(r[k] for r in rows) / n, 3) for k in rows[0] if k != "seconds"},
        "median_s": round(statistics.median(r["seconds"] for r in rows), 2),
        "out_of_scope_questions": refusals["questions"],
        "out_of_scope_refused": refusals["refused"],
    }


def summary(results: dict) -> str:
    r, s = results["retrieval"], results["settings"]
    lines = [
        "# RAG Space: quality",
        "",
        f"{r['questions']} questions from `bench/rag_questions.jsonl` and "
        f"{results['out_of_scope']['questions']} out-of-scope questions from "
        f"`bench/rag_out_of_scope.jsonl`; {results['chunks']} chunks (chunk size "
        f"{s['chunk_size']}, overlap {s['chunk_overlap']}), embedding model "
        f"`{s['embedding_model']}`, LLM `{results['llm']}`, top_k {s['top_k_default']}, "
        f"RAG_MIN_RELEVANCE {s['min_relevance']}.",
        "",
        "## Retrieval",
        "",
        "| retrieval | hit@1 | hit@5 | MRR | top passage holds the key phrase | ms/query |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for mode in ("hybrid", "dense"):
        m = r[mode]
        lines.append(
            f"| {mode} | {m['hit@1']} | {m['hit@5']} | {m['mrr']} | "
            f"{m['top_passage_has_key_phrase']} | {m['ms_per_query']} |"
        )
    lines += [
        "",
        "## Answers from `POST /ask`, per `RAG_ANSWER_MODE`",
        "",
        "| RAG_ANSWER_MODE | answer holds the key phrase | first quote holds it | cites the right "
        "document | false refusals | generated / quoted / refused | median | p90 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode, a in results["answers"].items():
        k = a["kinds"]
        default = " (default)" if mode == s["answer_mode"] else ""
        lines.append(
            f"| {mode}{default} | {a['answer_has_key_phrase']} | {a['quote_has_key_phrase']} | "
            f"{a['cites_right_document']} | {a['false_refusals']} | "
            f"{k['generated']} / {k['quoted']} / {k['refused']} | {a['median_s']} s | "
            f"{a['p90_s']} s |"
        )
    o = results["out_of_scope"]
    lines += [
        "",
        f'Out-of-scope questions refused ("I don\'t know", no LLM call): **{o["refused"]}** of '
        f"{o['questions']}.",
    ]
    if "squad" in results:
        q = results["squad"]
        lines += [
            "",
            "## Held-out check: SQuAD v1.1 dev (public, never tuned on)",
            "",
            f"{q['articles']} articles ({q['chunks']} chunks), {q['questions']} of their questions"
            f" (every tenth), and {q['out_of_scope_questions']} questions of other articles:",
            "",
            "| measure | share |",
            "| --- | --- |",
            f"| top passage from the right article | {q['right_article']} |",
            f"| top passage holds a gold answer | {q['top_passage']} |",
            f"| first quote holds a gold answer | {q['quote']} |",
            f"| answer holds a gold answer | {q['answer']} |",
            f"| answerable questions refused | {q['refused']} |",
            f"| other articles' questions refused | {q['out_of_scope_refused']} |",
            "",
            f"Median `/ask` {q['median_s']} s.",
        ]
    m = results["machine"]
    lines += [
        "",
        f"Measured {m['date']} on {m['cpu']}, {m['cores']} cores. Command: "
        f"`python -m bench.rag_eval {results['args']}`.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, help="index folder (default: RAG_INDEX_DIR)")
    parser.add_argument("--modes", default=",".join(MODES), help="answer modes to measure")
    parser.add_argument("--limit", type=int, help="first N questions only")
    parser.add_argument("--squad", type=int, default=0, help="SQuAD dev articles to index")
    parser.add_argument("--llm-path", help="a GGUF to answer with instead of the packaged one")
    parser.add_argument("--name", default="rag_eval", help="results file name")
    args = parser.parse_args(argv)
    settings = Settings(**({"llm_model_path": args.llm_path} if args.llm_path else {}))
    index = open_index(settings, args.index)
    questions = read_jsonl(QUESTIONS, args.limit)
    out_of_scope = read_jsonl(OUT_OF_SCOPE)
    results: dict[str, Any] = {
        "settings": settings.model_dump(mode="json", exclude={"openai_api_key"})
        | {"embedding_model": settings.embedding_name},
        "chunks": index.size,
        "retrieval": {"questions": len(questions)} | retrieval_metrics(index, settings, questions),
        "answers": {},
    }
    print(json.dumps({k: v for k, v in results["retrieval"]["hybrid"].items() if k[0] != "m"}))
    modes = [settings.answer_mode] + [m for m in args.modes.split(",") if m != settings.answer_mode]
    for mode in modes:
        with api(index, settings.model_copy(update={"answer_mode": mode})) as client:
            results["llm"] = client.get("/ready").json()["llm"]
            results["answers"][mode] = answer_metrics(client, questions)
            if mode == settings.answer_mode:
                results["out_of_scope"] = refusal_metrics(client, out_of_scope)
        print(
            mode, json.dumps({k: v for k, v in results["answers"][mode].items() if k != "answers"})
        )
    if args.squad:
        results["squad"] = squad_metrics(settings, args.squad)
        print("squad", json.dumps(results["squad"]))
    results["machine"] = machine_info(PACKAGES) | {
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()]
    }
    results["args"] = " ".join(argv if argv is not None else os.sys.argv[1:])
    write_results(args.name, results, summary(results))


if __name__ == "__main__":
    main()
