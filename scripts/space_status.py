"""`spaces.py status` and `spaces.py logs`: what the Hub runs for each Space folder."""

from __future__ import annotations

import sys
from typing import Any

from scripts.space_deploy import ERROR_STAGES, space_host
from scripts.space_folder import SpaceFolder

NOT_DEPLOYED = "NOT_DEPLOYED"
COLUMNS = ("space", "stage", "hardware", "commit", "url")


def _text(value: Any) -> str | None:
    """An enum or string from huggingface_hub as a plain string (None stays None)."""
    return None if value is None else str(getattr(value, "value", value))


def space_status(api: Any, space: SpaceFolder, owner: str) -> dict[str, Any]:
    """Stage, hardware, commit and URLs of one Space (stage NOT_DEPLOYED when it is missing)."""
    from huggingface_hub.errors import RepositoryNotFoundError

    repo_id = f"{owner}/{space.name}"
    record: dict[str, Any] = {"space": space.name, "repo_id": repo_id, "sdk": space.sdk}
    record["url"] = f"https://huggingface.co/spaces/{repo_id}"
    try:
        info = api.space_info(repo_id)
    except RepositoryNotFoundError:
        return {**record, "stage": NOT_DEPLOYED, "hardware": None, "commit": None}
    runtime = api.get_space_runtime(repo_id)
    host = info.host or space_host(repo_id, space.sdk)
    return {
        **record,
        "stage": _text(runtime.stage),
        "hardware": _text(runtime.hardware),
        "requested_hardware": _text(runtime.requested_hardware),
        "sleep_time": runtime.sleep_time,
        "dev_mode": runtime.dev_mode,
        "commit": runtime.raw.get("sha") or info.sha,
        "app_url": host if host.startswith("http") else f"https://{host}",
    }


def print_table(records: list[dict[str, Any]]) -> None:
    """One aligned line per Space: name, stage, hardware, short commit, URL."""
    rows = [[c.upper() for c in COLUMNS]]
    for r in records:
        hardware = r["hardware"] or "-"
        if r.get("requested_hardware") and r["requested_hardware"] != r["hardware"]:
            hardware = f"{hardware} (-> {r['requested_hardware']})"
        commit = (r["commit"] or "-")[:7]
        rows.append([r["space"], r["stage"], hardware, commit, r["url"]])
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def failed(records: list[dict[str, Any]]) -> bool:
    """True when a deployed Space is in an error stage."""
    return any(r["stage"] in ERROR_STAGES for r in records)


def print_logs(api: Any, repo_id: str, build: bool, follow: bool) -> int:
    """Stream a Space's build or run logs to stdout (HfApi.fetch_space_logs)."""
    count = 0
    for line in api.fetch_space_logs(repo_id, build=build, follow=follow):
        sys.stdout.write(line if line.endswith("\n") else f"{line}\n")
        sys.stdout.flush()
        count += 1
    if count == 0:
        print(f"(no {'build' if build else 'run'} logs for {repo_id})", file=sys.stderr)
    return 0
