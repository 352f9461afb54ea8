"""Load and soak: each Space's API started for real, driven over loopback from this process.

python -m bench.load [--seconds 60] [--warmup 10] [--concurrency 64] [--spaces iris,sentiment,rag]

Per Space: start the server (bound to 127.0.0.1, rate limits off: one client sends everything),
warm it up at full concurrency, read its RSS, then keep `concurrency` closed-loop clients busy on a
mix of its API routes for `seconds`. Figures: requests and statuses per route, p50/p99 latency,
errors (anything but 2xx and the documented 429/503: other statuses, dropped connections,
time-outs), and the server's RSS at the end against after warm-up. Writes bench/results/load.json
and load.md with the machine and its load average (the cores may be shared with other jobs).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.loadgen import machine_info, percentile, write_results
from bench.processes import descendants
from bench.servers import free_port, running

REPO = Path(__file__).resolve().parents[1]
SPACES = REPO / "spaces"
DOCUMENTED = {429, 503}  # refusals the APIs document under load: rate limit, busy LLM queue
RSS_TOLERANCE = 0.10


@dataclass(frozen=True)
class Route:
    """One API route of the mix: how often it is picked, and the bodies it cycles through."""

    method: str
    path: str
    weight: int
    bodies: tuple[Any, ...] = (None,)


FLOWERS = (
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 7.0, "sepal_width": 3.2, "petal_length": 4.7, "petal_width": 1.4},
    {"sepal_length": 6.3, "sepal_width": 3.3, "petal_length": 6.0, "petal_width": 2.5},
)
REVIEWS = (
    "A charming, funny and moving film.",
    "Boring, ugly and badly acted; I left before the end.",
    "The plot wanders, but the last act is superb and the music stays with you.",
    "Two hours of my life I will never get back.",
)
QUESTIONS = (
    "Which port must a Docker Space listen on?",
    "How do I pass a secret to a Space?",
    "What hardware does a free Space run on?",
    "How can a Space persist data between restarts?",
)
MIXES: dict[str, tuple[Route, ...]] = {
    "iris": (
        Route("POST", "/predict", 14, FLOWERS),
        Route("POST", "/predict/batch", 4, ({"items": list(FLOWERS) * 4},)),
        Route("GET", "/model", 2),
    ),
    "sentiment": (
        Route("POST", "/sentiment", 14, tuple({"text": t} for t in REVIEWS)),
        Route("POST", "/sentiment/batch", 4, ({"texts": list(REVIEWS) * 2},)),
        Route("GET", "/model", 2),
    ),
    "rag": (
        Route("POST", "/search", 14, tuple({"query": q, "top_k": 3} for q in QUESTIONS)),
        Route("POST", "/ask", 4, tuple({"question": q} for q in QUESTIONS)),
        Route("GET", "/documents", 2),
    ),
}


@contextmanager
def start(space: str) -> Iterator[tuple[str, int]]:
    """Run a Space's server on a free loopback port; yields its URL and PID."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if space == "iris":
        cmd, cwd = [sys.executable, "app.py"], SPACES / "iris-gradio"
        env = {"IRIS_HOST": "127.0.0.1", "IRIS_PORT": str(port), "PYTHONPATH": ""}
    elif space == "sentiment":
        cwd = SPACES / "sentiment-streamlit"
        cmd = [sys.executable, "-m", "sentiment_app", "api", "--host", "127.0.0.1"]
        cmd += ["--port", str(port)]
        env = {"SENTIMENT_MODEL": str(cwd / "model"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    else:
        cmd, cwd = [sys.executable, "app.py"], SPACES / "rag-docker"
        env = {"RAG_HOST": "127.0.0.1", "RAG_PORT": str(port), "PYTHONPATH": ""}
    with running(cmd, cwd, f"{url}/ready", env=env):
        yield url, listener(port)


def listener(port: int) -> int:
    """The PID of the process that listens on a loopback port (from `ss`)."""
    out = subprocess.run(
        ["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split("pid=", 1)[1].split(",", 1)[0])


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, in MiB (from /proc)."""
    total_kib = 0
    for p in descendants(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return round(total_kib / 1024, 1)


async def drive(
    url: str, routes: tuple[Route, ...], concurrency: int, seconds: float, timeout: float
) -> dict[str, Any]:
    """`concurrency` closed-loop clients on a weighted mix of routes for `seconds`."""
    rng = random.Random(0)
    picks = [r for r in routes for _ in range(r.weight)]
    cycles = {
        r.path: itertools.cycle([None if b is None else json.dumps(b).encode() for b in r.bodies])
        for r in routes
    }
    latencies: dict[str, list[float]] = {r.path: [] for r in routes}
    statuses: dict[str, Counter[str]] = {r.path: Counter() for r in routes}
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:

        async def one(route: Route) -> None:
            body = next(cycles[route.path])
            headers = {"content-type": "application/json"} if body is not None else {}
            began = time.perf_counter()
            try:
                async with session.request(
                    route.method, url + route.path, data=body, headers=headers
                ) as response:
                    await response.read()
                    status = str(response.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = type(exc).__name__
            statuses[route.path][status] += 1
            if status.startswith("2"):
                latencies[route.path].append((time.perf_counter() - began) * 1000)

        async def client() -> None:
            while time.perf_counter() < deadline:
                await one(rng.choice(picks))

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    per_route = {}
    for r in routes:
        ms, counts = latencies[r.path], statuses[r.path]
        errors = sum(
            n for s, n in counts.items() if not s.startswith("2") and int_or_0(s) not in DOCUMENTED
        )
        per_route[f"{r.method} {r.path}"] = {
            "requests": sum(counts.values()),
            "ok": len(ms),
            "statuses": dict(sorted(counts.items())),
            "errors": errors,
            "p50_ms": round(percentile(ms, 50), 1) if ms else None,
            "p99_ms": round(percentile(ms, 99), 1) if ms else None,
        }
    total = sum(v["requests"] for v in per_route.values())
    return {
        "seconds": round(elapsed, 1),
        "requests": total,
        "rps": round(total / elapsed, 1),
        "errors": sum(v["errors"] for v in per_route.values()),
        "routes": per_route,
    }


def int_or_0(status: str) -> int:
    return int(status) if status.isdigit() else 0


def measure(space: str, args: argparse.Namespace) -> dict[str, Any]:
    """Start one Space, warm it up, drive it, and read its memory before and after."""
    routes = MIXES[space]
    with start(space) as (url, pid):
        asyncio.run(drive(url, routes, args.concurrency, args.warmup, args.timeout))
        rss_warm = rss_mib(pid)
        load_before = os.getloadavg()
        run = asyncio.run(drive(url, routes, args.concurrency, args.seconds, args.timeout))
        rss_end = rss_mib(pid)
        load_after = os.getloadavg()
    growth = (rss_end - rss_warm) / rss_warm
    return {
        **run,
        "rss_after_warmup_mib": rss_warm,
        "rss_at_end_mib": rss_end,
        "rss_growth": round(growth, 4),
        "rss_within_tolerance": abs(growth) <= RSS_TOLERANCE,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }


def report(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# Load and soak: each API at concurrency "
        f"{results['concurrency']} for {results['seconds']} s, over loopback",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
        f"{m['date']}. `python -m bench.load` (`make bench-load`).",
        "",
        "Each server is started for real (bound to 127.0.0.1, rate limits off: the one load "
        "client would otherwise get 429s), warmed up for "
        f"{results['warmup']} s at full concurrency, then driven by {results['concurrency']} "
        "closed-loop clients from the benchmark process on a weighted mix of its API routes. "
        "An error is any answer but 2xx and the documented 429 (rate limit) and 503 (LLM queue "
        "full), or a dropped connection or time-out. The load client shares the cores with the "
        "server (and, here, with other jobs: see the load average), so the latencies are upper "
        "bounds.",
        "",
        "| Space | requests | req/s | errors | RSS after warm-up → end (MiB) | growth | "
        "load average (1 min) before → after |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for space, r in results["spaces"].items():
        ok = "✓" if r["rss_within_tolerance"] else "✗ over 10%"
        lines.append(
            f"| {space} | {r['requests']} | {r['rps']} | {r['errors']} | "
            f"{r['rss_after_warmup_mib']} → {r['rss_at_end_mib']} | {r['rss_growth']:+.1%} {ok} | "
            f"{r['load_average_before'][0]} → {r['load_average_after'][0]} |"
        )
    lines += [
        "",
        "| Space | route | requests | statuses | p50 ms | p99 ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for space, r in results["spaces"].items():
        for route, v in r["routes"].items():
            statuses = ", ".join(f"{s}: {n}" for s, n in v["statuses"].items())
            lines.append(
                f"| {space} | `{route}` | {v['requests']} | {statuses} | {v['p50_ms']} | "
                f"{v['p99_ms']} |"
            )
    if results.get("note"):
        lines += ["", results["note"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="length of the measured run")
    parser.add_argument("--warmup", type=float, default=10, help="warm-up before the RSS baseline")
    parser.add_argument("--concurrency", type=int, default=64, help="closed-loop clients")
    parser.add_argument(
        "--timeout",
        type=float,
        default=150,
        help="seconds before a request fails (above the RAG queue wait plus generation "
        "time-outs, so that the server answers first)",
    )
    parser.add_argument("--spaces", default="iris,sentiment,rag", help="comma-separated Spaces")
    parser.add_argument("--note", default="", help="a sentence added to load.md (e.g. the load)")
    parser.add_argument("--out", default="load", help="results name in bench/results/")
    args = parser.parse_args(argv)
    spaces = [s.strip() for s in args.spaces.split(",") if s.strip()]
    unknown = set(spaces) - set(MIXES)
    if unknown:
        parser.error(f"unknown Spaces: {', '.join(sorted(unknown))} (know {', '.join(MIXES)})")
    results: dict[str, Any] = {
        "benchmark": "load and soak, closed-loop clients on loopback",
        "machine": machine_info(
            ["fastapi", "uvicorn", "aiohttp", "onnxruntime", "llama-cpp-python"]
        ),
        "seconds": args.seconds,
        "warmup": args.warmup,
        "concurrency": args.concurrency,
        "note": args.note,
        "spaces": {},
    }
    for space in spaces:
        print(f"{space}: starting", flush=True)
        results["spaces"][space] = measure(space, args)
        print(json.dumps(results["spaces"][space]), flush=True)
    summary = report(results)
    path = write_results(args.out, results, summary)
    print(summary)
    print(f"-> {path}")
    failed = [
        s for s, r in results["spaces"].items() if r["errors"] or not r["rss_within_tolerance"]
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
