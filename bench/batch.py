"""Batch inference: the naive loop (`pipeline(text)` per row) against the Ray Data job.

    python -m bench.batch [--rows 100000] [--naive-seconds 120] [--ceiling-rows 20000] [--quantize]

100,000 synthetic reviews, made here from templates with a fixed seed (never the eval sets), are
scored by `python -m sentiment_app.batch` (Ray Data, actors = cores, the Space's ONNX model) and by
the textbook loop: a transformers `pipeline` on PyTorch, one `pipeline(text)` call per row, on all
cores. Each runs in its own process; its rows/s and peak memory (RSS summed over the process and
its children, sampled every 0.2 s) go to bench/results/batch.{json,md}. The naive loop runs for at
most --naive-seconds (its rate per row is flat; at ~100 rows/s the whole file would take about 20
minutes) and its labels are compared with the Ray job's on the rows both scored. The same run
measures the ceiling: the Space's model alone, no Ray, on --ceiling-rows of the file.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.loadgen import machine_info, write_results
from bench.processes import descendants

REPO = Path(__file__).resolve().parents[1]
SPACE = REPO / "spaces" / "sentiment-streamlit"
MODEL = SPACE / "model"
PACKAGES = ["ray", "onnxruntime", "torch", "transformers", "pyarrow"]

GOOD = ["wonderful", "moving", "sharp", "funny", "beautifully shot", "gripping", "warm", "clever"]
BAD = ["dull", "clumsy", "tedious", "predictable", "badly acted", "shallow", "noisy", "forgettable"]
SUBJECTS = ["the plot", "the acting", "the score", "the ending", "the script", "the pacing"]
OPENERS = ["Honestly,", "All in all,", "From the first scene,", "To my surprise,", "Sadly,", ""]
EXTRAS = [
    "I would watch it again with friends.",
    "The cinema was half empty on a Friday night.",
    "My partner fell asleep before the second act.",
    "It runs a little over two hours.",
    "The director's previous film was better known.",
]

NAIVE = """
import sys, time
import pyarrow.parquet as pq
import torch
from transformers import pipeline
torch.set_num_threads({threads})
texts = pq.read_table(sys.argv[1]).column("text").to_pylist()
classify = pipeline("text-classification", model=sys.argv[2], truncation=True, device="cpu")
classify(texts[0])
labels, began = [], time.perf_counter()
for text in texts:
    labels.append(classify(text)[0]["label"])
    if time.perf_counter() - began > {seconds}:
        break
print(len(labels), time.perf_counter() - began)
print("\\n".join(labels))
"""

# The ceiling: the Space's model alone in one process, no Ray (its passes on all cores, blocks of
# the job's batch size), on the file's first rows: no job with this model scores faster here.
CEILING = """
import sys, time
import pyarrow.parquet as pq
from sentiment_app.model import load_model
from sentiment_app.settings import Settings
texts = pq.read_table(sys.argv[1]).column("text").to_pylist()[:{rows}]
model = load_model(Settings(workers={threads}, threads=1))
model.predict(texts[:256])
began = time.perf_counter()
for start in range(0, len(texts), 256):
    model.predict(texts[start : start + 256])
print(len(texts), time.perf_counter() - began)
"""


def reviews(rows: int, seed: int = 20261202) -> pa.Table:
    """Synthetic reviews: one to four sentences, each praising or panning a part of a film."""
    rng = random.Random(seed)
    texts = []
    for _ in range(rows):
        sentences = []
        for _ in range(rng.randint(1, 4)):
            words = rng.choice(GOOD if rng.random() < 0.5 else BAD)
            sentences.append(f"{rng.choice(OPENERS)} {rng.choice(SUBJECTS)} was {words}.".strip())
            if rng.random() < 0.3:
                sentences.append(rng.choice(EXTRAS))
        texts.append(" ".join(s[0].upper() + s[1:] for s in sentences))
    return pa.table({"id": list(range(rows)), "text": texts})


def run_measured(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[str, float, int]:
    """(stdout, seconds, peak RSS bytes of the process tree) of a command."""
    peak = 0
    began = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        page = os.sysconf("SC_PAGE_SIZE")
        while not done.wait(0.2):
            total = 0
            for pid in descendants(process.pid):
                try:
                    total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
                except (OSError, ValueError, IndexError):
                    continue
            peak = max(peak, total)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = process.communicate()
    seconds = time.perf_counter() - began
    done.set()
    sampler.join()
    if process.returncode not in (0, 1):
        raise SystemExit(f"{cmd[:4]} failed with exit code {process.returncode}")
    return out, seconds, peak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--naive-seconds", type=float, default=120.0)
    parser.add_argument("--ceiling-rows", type=int, default=20_000, help="rows for the model alone")
    parser.add_argument(
        "--quantize", action="store_true", help="the Ray job and the ceiling on the int8 graph"
    )
    args = parser.parse_args(argv)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SENTIMENT_MODEL": str(MODEL)}
    env["SENTIMENT_QUANTIZE"] = "true" if args.quantize else "false"
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        source, output = Path(tmp) / "reviews.parquet", Path(tmp) / "scored.parquet"
        pq.write_table(reviews(args.rows), source)
        ray_cmd = [sys.executable, "-m", "sentiment_app.batch", str(source), str(output)]
        _, ray_seconds, ray_peak = run_measured([*ray_cmd, "--actors", str(cores)], SPACE, env)
        ray_labels = pq.read_table(output).column("label").to_pylist()
        naive_cmd = [
            sys.executable,
            "-c",
            NAIVE.format(threads=cores, seconds=args.naive_seconds),
            str(source),
            str(MODEL),
        ]
        out, _, naive_peak = run_measured(naive_cmd, REPO, env)
        ceiling_cmd = [
            sys.executable,
            "-c",
            CEILING.format(threads=cores, rows=args.ceiling_rows),
            str(source),
        ]
        alone, _, _ = run_measured(ceiling_cmd, SPACE, {**env, "PYTHONPATH": str(SPACE)})
    head, *naive_labels = out.splitlines()
    naive_rows, naive_seconds = int(head.split()[0]), float(head.split()[1])
    same = sum(a == b for a, b in zip(naive_labels, ray_labels, strict=False))
    ray_rate, naive_rate = len(ray_labels) / ray_seconds, naive_rows / naive_seconds
    ceiling_rows, ceiling_seconds = int(alone.split()[0]), float(alone.split()[1])
    ceiling_rate = ceiling_rows / ceiling_seconds
    results = {
        "rows": args.rows,
        "model": "ONNX int8 (SENTIMENT_QUANTIZE=true)" if args.quantize else "ONNX fp32",
        "ray": {
            "rows": len(ray_labels),
            "seconds": round(ray_seconds, 1),
            "rows_per_s": round(ray_rate, 1),
            "peak_rss_mb": round(ray_peak / 1e6),
            "actors": cores,
        },
        "naive": {
            "rows": naive_rows,
            "seconds": round(naive_seconds, 1),
            "rows_per_s": round(naive_rate, 1),
            "peak_rss_mb": round(naive_peak / 1e6),
        },
        "speedup": round(ray_rate / naive_rate, 2),
        "ceiling": {
            "rows": ceiling_rows,
            "seconds": round(ceiling_seconds, 1),
            "rows_per_s": round(ceiling_rate, 1),
            "vs_naive": round(ceiling_rate / naive_rate, 2),
            "ray_share": round(ray_rate / ceiling_rate, 3),
        },
        "same_label_share": round(same / max(naive_rows, 1), 4),
        "load_average_before": round(load_before, 2),
        "machine": machine_info(PACKAGES),
    }
    write_results("batch", results, summary(results))
    print(summary(results))


def row(path: str, f: dict) -> str:
    return (
        f"| {path} | {f['rows']:,} | {f['seconds']} | {f['rows_per_s']} | {f['peak_rss_mb']} MB |"
    )


def summary(r: dict) -> str:
    m, naive, ray, ceiling = r["machine"], r["naive"], r["ray"], r["ceiling"]
    return f"""# Batch inference: Ray Data job vs the naive loop

{r["rows"]:,} synthetic reviews (`bench/batch.py`, fixed seed). The Ray job is
`python -m sentiment_app.batch` ({ray["actors"]} actors, the Space's model on {r["model"]}, Ray
started on 127.0.0.1, start-up included); the naive loop is a transformers `pipeline` on
PyTorch, called once per row on all cores, run for {naive["seconds"]} s ({naive["rows"]:,} rows,
model load excluded).

| path | rows | seconds | rows/s | peak memory (process tree) |
| --- | --- | --- | --- | --- |
{row("naive loop, `pipeline(text)` per row", naive)}
{row("Ray Data job", ray)}

Ray job / naive loop: **{r["speedup"]}×** rows/s. Same label on the rows both scored:
{r["same_label_share"]:.2%}. Load average before the run: {r["load_average_before"]}.

The ceiling, same run: the Space's model alone in one process, no Ray, its passes on all
{ray["actors"]} cores in blocks of 256 rows ({ceiling["rows"]:,} rows, model load excluded), scores
**{ceiling["rows_per_s"]} rows/s, {ceiling["vs_naive"]}× the naive loop**: no job with this model
({r["model"]}) goes faster on this machine, and the Ray job, start-up included, reaches
{ceiling["ray_share"]:.0%} of it. Accuracy of each on the held-out sets:
`bench/results/sentiment_eval.md`.

Measured {m["date"]} on {m["cpu"]}, {m["cores"]} cores, {m["memory_gib"]} GiB. Command:
`python -m bench.batch{" --quantize" if "int8" in r["model"] else ""}`.
"""


if __name__ == "__main__":
    main()
