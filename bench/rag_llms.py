"""The packaged SmolLM2-135M beside a Qwen2.5-1.5B-class model, in one run: speed and answers.

    python -m bench.rag_llms [--index DIR] [--limit N]      (make rag-llms; about 30 minutes)

On a Space the image downloads Qwen2.5-1.5B-Instruct (Q4_K_M) from the Hub at build time. Here
the Hub is unreachable, so a GGUF of the same architecture and size stands in for it (see
bench/qwen_gguf.py; it is tuned for code, so its answers on prose are a lower bound). Both answer
the question set through `POST /ask` on the same index, with the same retrieval and quotes, in
RAG_ANSWER_MODE auto and generate: time to first token, tokens/s, latency and answer quality.
Writes bench/results/rag_llms.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from bench import qwen_gguf
from bench.loadgen import machine_info, write_results
from bench.rag_eval import QUESTIONS, answer_metrics, api, open_index, read_jsonl
from rag_app.llm import packaged_gguf
from rag_app.settings import Settings

MODES = ("auto", "generate")
PACKAGES = ["llama-cpp-python", "bm25s", "faiss-cpu"]


def summary(results: dict[str, Any]) -> str:
    lines = [
        "# RAG Space: the packaged model beside a 1.5B model",
        "",
        f"{results['questions']} questions of `bench/rag_questions.jsonl` through `POST /ask`, "
        f"same index ({results['chunks']} chunks), retrieval and quotes; llama-cpp on "
        f"{results['n_threads']} threads, top_k {results['top_k']}. The 1.5B model is "
        "Qwen2.5-Coder-1.5B-Instruct Q4_K_M from PyPI (`bench/qwen_gguf.py`), standing in for "
        "the Space's Hub default Qwen2.5-1.5B-Instruct Q4_K_M (same architecture and size).",
        "",
        "| model | RAG_ANSWER_MODE | answer holds the key phrase | generated / quoted / refused | "
        "time to first token | tokens/s | median `/ask` | p90 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, modes in results["models"].items():
        for mode, a in modes.items():
            k = a["kinds"]
            lines.append(
                f"| {name} | {mode} | {a['answer_has_key_phrase']} | {k['generated']} / "
                f"{k['quoted']} / {k['refused']} | {a['median_first_token_ms']} ms | "
                f"{a['median_tokens_per_s']} | {a['median_s']} s | {a['p90_s']} s |"
            )
    m = results["machine"]
    lines += [
        "",
        "Time to first token is measured from the request's arrival (retrieval and quotes "
        "included), tokens/s over the decoding that follows, both medians over the answers the "
        "model generated.",
        "",
        f"Measured {m['date']} on {m['cpu']}, {m['cores']} cores. Command: "
        "`python -m bench.rag_llms`.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, help="index folder (default: RAG_INDEX_DIR)")
    parser.add_argument("--limit", type=int, help="first N questions only")
    args = parser.parse_args(argv)
    models = {
        "SmolLM2-135M-Instruct Q4_1 (packaged)": packaged_gguf(),
        "Qwen2.5-Coder-1.5B-Instruct Q4_K_M": str(qwen_gguf.assemble()),
    }
    settings = Settings()
    index = open_index(settings, args.index)
    questions = read_jsonl(QUESTIONS, args.limit)
    results: dict[str, Any] = {
        "questions": len(questions),
        "chunks": index.size,
        "n_threads": settings.n_threads,
        "top_k": settings.top_k_default,
        "models": {},
    }
    for name, path in models.items():
        results["models"][name] = {}
        for mode in MODES:
            update = {"llm_model_path": path, "answer_mode": mode}
            with api(index, settings.model_copy(update=update)) as client:
                figures = answer_metrics(client, questions)
            results["models"][name][mode] = figures
            print(name, mode, json.dumps({k: v for k, v in figures.items() if k != "answers"}))
    results["machine"] = machine_info(PACKAGES) | {
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()]
    }
    write_results("rag_llms", results, summary(results))


if __name__ == "__main__":
    main()
