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
    "Serve, 2 replicas": (
        [*SERVE, "--replicas", "2"],
        {},
        "`python -m sentiment_app.serve --replicas 2`: two of serve.yaml's replicas",
    ),
    "Serve, 1 replica, 2 passes": (
        [*SERVE, "--replicas", "1"],
        {"SENTIMENT_WORKERS": "2"},
        "one replica with SENTIMENT_WORKERS=2, as the Space runs",
    ),
}
SERVERS["Space (uvicorn), again"] = (
    *SERVERS["Space (uvicorn)"][:2],
    "the Space's server once more at the end: how far the machine drifted during the run",
)


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
    load = round(os.getloadavg()[0], 1)  # the last minute, this server's load included
    print(f"{name}: {c32['rps']} texts/s, p99 {c32['p99_ms']} ms at 32; p50 {c1['p50_ms']} at 1")
    return {"what": what, "ready_s": round(ready_s, 1), "c1": c1, "c32": c32, "loadavg_1": load}


def render(run: dict) -> str:
    """The Markdown summary of one run (bench/results/serve.json)."""
    results, machine, load = run["servers"], run["machine"], run["loadavg_1_5_15"]
    space = results["Space (uvicorn)"]["c32"]
    rows = [
        f"| {name} | {r['c32']['rps']} | {r['c32']['p99_ms']} | {r['c32']['p50_ms']} | "
        f"{r['c1']['p50_ms']} | {r['c32']['errors'] + r['c1']['errors']} | "
        f"{r['c32']['rps'] / space['rps']:.2f}× | {r['loadavg_1']} |"
        for name, r in results.items()
    ]
    one, two = results["Serve, 1 replica"]["c32"], results["Serve, 2 replicas"]["c32"]
    again = results["Space (uvicorn), again"]["c32"]
    contended = load["before"][0] > machine["cores"]
    return "\n".join(
        [
            "# Sentiment API on Ray Serve vs the Space's own server",
            "",
            f"{machine['date']} · {machine['cpu']} · {machine['cores']} cores · "
            f"Python {machine['python']} · ray {machine['packages']['ray']}",
            "",
            f"Payloads: {run['payloads']} ({run['requests']} requests at concurrency 32 after a "
            f"warm-up, then {max(run['requests'] // 5, 50)} at concurrency 1), one server at a "
            "time. Command: `python -m bench.serve`. Load average (1 min) before/after: "
            f"{load['before'][0]:.1f}/{load['after'][0]:.1f}.",
            "",
            "| server | texts/s at 32 | p99 ms at 32 | p50 ms at 32 | p50 ms at 1 | errors | "
            "vs Space | load average after |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            *(f"- {name}: {r['what']}; ready in {r['ready_s']} s." for name, r in results.items()),
            "",
            f"Two replicas served {two['rps'] / one['rps']:.2f}× one replica's texts/s, and "
            f"Serve with one replica {one['rps'] / space['rps']:.2f}× the Space's server "
            f"(p99 {one['p99_ms']:.0f} against {space['p99_ms']:.0f} ms). The Space's server, "
            f"measured first and last, moved from {space['rps']} to {again['rps']} texts/s in "
            "this run: differences smaller than that drift are noise. This machine has 2 cores: "
            "expect little scaling from replicas here; what separates Serve from the Space's "
            "server on one machine is the overhead of Serve (its proxy, a second hop, Ray's "
            "processes). Replicas pay off on a cluster, each with its own cores."
            + (
                " In this run other jobs kept the cores busy (load average above the core "
                "count): there, more processes win a larger share of the cores from the other "
                "jobs, which can flatter two replicas against one."
                if contended
                else ""
            ),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1500, help="requests at concurrency 32")
    parser.add_argument("--model", default=str(SPACE / "model"), help="the model folder")
    args = parser.parse_args()
    data = payloads()
    load_before = os.getloadavg()
    results = {name: measure(name, args.model, data, args.requests) for name in SERVERS}
    run = {
        "machine": machine_info(PACKAGES),
        "model": Path(args.model).name,
        "payloads": f"{len(data)} SST-2 validation sentences" if SST2.is_file() else "4 sentences",
        "requests": args.requests,
        "loadavg_1_5_15": {"before": load_before, "after": os.getloadavg()},
        "servers": results,
    }
    summary = render(run)
    print(summary)
    write_results("serve", run, summary)


if __name__ == "__main__":
    main()
