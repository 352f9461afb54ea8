"""A process and its descendants (from /proc): the TCP addresses they listen on."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def descendants(pid: int) -> set[int]:
    """`pid` and every process below it, read from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in found]
        found.update(children)
        frontier.extend(children)
    return found


def listening_addresses(pid: int) -> list[str]:
    """Local addresses (host:port) on which `pid` or its descendants accept TCP connections."""
    pids = descendants(pid)
    lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    return [
        line.split()[3] for line in lines.splitlines() if any(f"pid={p}," in line for p in pids)
    ]
