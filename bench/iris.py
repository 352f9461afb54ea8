"""Benchmark the Iris Space's /predict against the textbook FastAPI app, in one run.

python -m bench.iris   (from the repo root; writes bench/results/iris.json and iris.md)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.loadgen import machine_info, run_load, write_results
from bench.servers import free_port, running

REPO = Path(__file__).resolve().parents[1]
SPACE = REPO / "spaces" / "iris-gradio"
FLOWERS = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 7.0, "sepal_width": 3.2, "petal_length": 4.7, "petal_width": 1.4},
    {"sepal_length": 6.3, "sepal_width": 3.3, "petal_length": 6.0, "petal_width": 2.5},
]
LEVELS = (1, 16, 64)


def measure(url: str, requests: int) -> list[dict]:
    """/predict at each concurrency level."""
    return [run_load(f"{url}/predict", FLOWERS, c, requests) for c in LEVELS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="requests per level")
    args = parser.parse_args()
    uvicorn = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--no-access-log"]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running([*uvicorn, "bench.iris_baseline:app", "--port", str(port)], REPO, f"{base}/docs"):
        baseline = measure(base, args.requests)

    port = free_port()
    space = f"http://127.0.0.1:{port}"
    with running(
        [sys.executable, "app.py"],
        SPACE,
        f"{space}/health",
        env={"IRIS_HOST": "127.0.0.1", "IRIS_PORT": str(port)},
    ):
        ours = measure(space, args.requests)
        batch_body = [{"items": FLOWERS * 333 + FLOWERS[:1]}]  # 1000 rows
        batch = [run_load(f"{space}/predict/batch", batch_body, c, 200) for c in (1, 4)]

    rows = []
    for b, o in zip(baseline, ours, strict=True):
        rows.append(
            {
                "concurrency": o["concurrency"],
                "baseline": b,
                "space": o,
                "speedup": round(o["rps"] / b["rps"], 2),
            }
        )
    for entry in batch:
        entry["rows_per_s"] = round(entry["rps"] * 1000, 0)
    results = {
        "benchmark": "iris /predict, closed-loop clients on loopback",
        "machine": machine_info(["fastapi", "uvicorn", "scikit-learn", "gradio", "numpy"]),
        "predict": rows,
        "predict_batch_1000_rows": batch,
    }
    lines = [
        "# Iris /predict: the Space vs the textbook FastAPI app (same run, same machine)",
        "",
        f"{results['machine']['cpu']}, {results['machine']['cores']} cores, "
        f"{results['machine']['memory_gib']} GiB, Python {results['machine']['python']}, "
        f"{results['machine']['date']}",
        "",
        "| concurrency | baseline req/s | Space req/s | speed-up | baseline p50 / p99 ms "
        "| Space p50 / p99 ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        b, o = r["baseline"], r["space"]
        lines.append(
            f"| {r['concurrency']} | {b['rps']} | {o['rps']} | {r['speedup']}× | "
            f"{b['p50_ms']} / {b['p99_ms']} | {o['p50_ms']} / {o['p99_ms']} |"
        )
    lines += [
        "",
        "| /predict/batch (1000 rows) concurrency | rows/s | p50 / p99 ms |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {e['concurrency']} | {e['rows_per_s']:.0f} | {e['p50_ms']} / {e['p99_ms']} |"
        for e in batch
    ]
    path = write_results("iris", results, "\n".join(lines))
    print("\n".join(lines))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
