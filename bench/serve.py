"""Benchmark the sentiment API on Ray Serve (1 and 2 replicas) against the Space's own server.

    python -m bench.serve [--requests 1500]

Same model, same payloads (SST-2 validation sentences), one server at a time on this machine:
`python -m sentiment_app api` (uvicorn, the micro-batcher, 2 forward passes at once) and
`python -m sentiment_app.serve` (Ray on 127.0.0.1, Serve's proxy, `@serve.batch`, serve.yaml's
replicas of one forward pass each; also one replica with the Space's 2). Concurrency 1 (the
latency Serve adds) and 32 (throughput). Figures go to bench/results/serve.json and .md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.loadgen import machine_info, run_load, write_results
from bench.sentiment import SPACE, SST2, payloads
from bench.servers import free_port, running

PACKAGES = ["ray", "onnxruntime", "fastapi", "uvicorn", "starlette"]
SERVE = [sys.executable, "-m", "sentiment_app.serve"]
# name -> (command, extra environment, what it is)
SERVERS = {
    "Space (uvicorn)": (
        [sys.executable, "-m", "sentiment_app", "api"],
        {},
        "`python -m sentiment_app api`: uvicorn, the micro-batcher, SENTIMENT_WORKERS=2",
    ),
    "Serve, 1 replica": (
        [*SERVE, "--replicas", "1"],
        {},
        "`python -m sentiment_app.serve --replicas 1`: serve.yaml's replica (1 CPU, 1 pass)",
    ),
    "Serve, 1 replica, 2 passes": (
        [*SERVE, "--replicas", "1"],
        {"SENTIMENT_WORKERS": "2"},
        "the same with SENTIMENT_WORKERS=2, as the Space runs",
    ),
    "Serve, 2 replicas": (
        [*SERVE, "--replicas", "2"],
        {},
        "`python -m sentiment_app.serve --replicas 2`: two of serve.yaml's replicas",
    ),
}


def measure(name: str, model: str, data: list[dict[str, str]], requests: int) -> dict:
    """Start one server on a loopback port, load it at concurrency 1 then 32, stop it."""
    cmd, extra, what = SERVERS[name]
    port = free_port()
    env = {
        "SENTIMENT_MODEL": model,
        "SENTIMENT_HOST": "127.0.0.1",
        "SENTIMENT_PORT": str(port),
        "HF_HUB_OFFLINE": "1",
        **extra,
    }
    url = f"http://127.0.0.1:{port}"
    with running(cmd, SPACE, f"{url}/ready", env, timeout=300) as ready_s:
        c1 = run_load(f"{url}/sentiment", data, concurrency=1, requests=max(requests // 5, 50))
        c32 = run_load(f"{url}/sentiment", data, concurrency=32, requests=requests)
    print(f"{name}: {c32['rps']} texts/s, p99 {c32['p99_ms']} ms at 32; p50 {c1['p50_ms']} at 1")
    return {"what": what, "ready_s": round(ready_s, 1), "c1": c1, "c32": c32}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1500, help="requests at concurrency 32")
    parser.add_argument("--model", default=str(SPACE / "model"), help="the model folder")
    args = parser.parse_args()
    data = payloads()
    load_before = os.getloadavg()
    results = {name: measure(name, args.model, data, args.requests) for name in SERVERS}
    load_after = os.getloadavg()
    space = results["Space (uvicorn)"]["c32"]
    machine = machine_info(PACKAGES)
    rows = [
        f"| {name} | {r['c32']['rps']} | {r['c32']['p99_ms']} | {r['c32']['p50_ms']} | "
        f"{r['c1']['p50_ms']} | {r['c32']['errors'] + r['c1']['errors']} | "
        f"{r['c32']['rps'] / space['rps']:.2f}× |"
        for name, r in results.items()
    ]
    one, two = results["Serve, 1 replica"]["c32"], results["Serve, 2 replicas"]["c32"]
    summary = "\n".join(
        [
            "# Sentiment API on Ray Serve vs the Space's own server",
            "",
            f"{machine['date']} · {machine['cpu']} · {machine['cores']} cores · "
            f"Python {machine['python']} · ray {machine['packages']['ray']}",
            "",
            f"Payloads: {len(data)} SST-2 validation sentences"
            if SST2.is_file()
            else "Payloads: 4 sentences",
            f"({args.requests} requests at concurrency 32 after a warm-up, then "
            f"{max(args.requests // 5, 50)} at concurrency 1). Command: `python -m bench.serve`. "
            f"Load average (1 min) before/after: {load_before[0]:.1f}/{load_after[0]:.1f}: "
            "other jobs shared the 2 cores; compare the rows of this run only.",
            "",
            "| server | texts/s at 32 | p99 ms at 32 | p50 ms at 32 | p50 ms at 1 | errors | "
            "vs Space |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            *(f"- {name}: {r['what']}; ready in {r['ready_s']} s." for name, r in results.items()),
            "",
            f"Two replicas serve {two['rps'] / one['rps']:.2f}× one replica's texts/s. This "
            "machine has 2 cores, which the Space's server already keeps busy (two forward "
            "passes at once): more replicas cannot add throughput here, and the difference to "
            "the Space's row is what Ray Serve costs (its proxy, a second hop, Ray's own "
            "processes). Replicas pay off on a cluster, where each has cores of its own.",
        ]
    )
    print(summary)
    write_results(
        "serve",
        {
            "machine": machine,
            "model": Path(args.model).name,
            "loadavg_1_5_15": {"before": load_before, "after": load_after},
            "servers": results,
        },
        summary,
    )


if __name__ == "__main__":
    main()
