"""A small closed-loop HTTP load generator and the machine description that results carry."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import os
import platform
import statistics
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def _load(
    url: str, payloads: Sequence[Any], concurrency: int, requests: int, timeout: float
) -> dict[str, float]:
    bodies = itertools.cycle([json.dumps(p).encode() for p in payloads])
    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    errors = 0
    remaining = requests
    connector = aiohttp.TCPConnector(limit=concurrency)
    client_timeout = aiohttp.ClientTimeout(total=timeout)

    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:

        async def post(body: bytes) -> int:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                try:
                    ok = await post(next(bodies)) == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                latencies.append(time.perf_counter() - start)
                errors += not ok

        await asyncio.gather(*(post(next(bodies)) for _ in range(concurrency)))  # warm-up
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began

    ms = [x * 1000 for x in latencies]
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def run_load(
    url: str, payloads: Sequence[Any], concurrency: int, requests: int, timeout: float = 60
) -> dict[str, float]:
    """POST `requests` JSON payloads to `url` from `concurrency` closed-loop clients.

    Returns throughput (rps), latency percentiles in ms and the count of failed requests
    (non-200 answers, dropped connections and time-outs).
    """
    return asyncio.run(_load(url, payloads, concurrency, requests, timeout))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(packages: Sequence[str] = ()) -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, memory, Python, package versions, date."""
    mem_kb = 0
    try:
        meminfo = Path("/proc/meminfo").read_text().split()
        mem_kb = int(meminfo[meminfo.index("MemTotal:") + 1])
    except (OSError, ValueError):
        pass
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }


def write_results(name: str, results: dict[str, Any], summary_md: str) -> Path:
    """Write bench/results/<name>.json and <name>.md; return the JSON path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(summary_md.rstrip() + "\n")
    return path
