"""Compare a Space's space-settings.yaml with what the Hub holds, and apply the difference.

Hardware, sleep time and variables are set with HfApi (request_space_hardware,
set_space_sleep_time, add_space_variable). Secrets are only checked for presence: their values
are set by a person on the Hub and never read or written here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from scripts.space_settings import FREE_HARDWARE, SETTINGS_FILE, SpaceSettings


@dataclass
class HubSettings:
    """What the Hub holds for a Space (secret names only: the Hub never returns their values)."""

    hardware: str | None
    sleep_time: int | None
    variables: dict[str, tuple[str, str | None]]  # name -> (value, description)
    secrets: set[str]


@dataclass
class Change:
    """One setting to change on the Hub."""

    what: str  # "hardware", "sleep_time" or "variable"
    new: str
    old: str | None = None
    name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for --dry-run."""
        record = {"set": self.what, "from": self.old, "to": self.new}
        return {"name": self.name, **record} if self.name else record

    def __str__(self) -> str:
        label = f"{self.what} {self.name}" if self.name else self.what
        return f"{label}: {self.old!r} -> {self.new!r}"


def read_hub(api: Any, repo_id: str) -> HubSettings:
    """The Space's hardware (requested, else current), sleep time, variables and secret names."""
    runtime = api.get_space_runtime(repo_id)
    hardware = runtime.requested_hardware or runtime.hardware
    variables = {k: (v.value, v.description) for k, v in api.get_space_variables(repo_id).items()}
    return HubSettings(
        hardware=str(hardware) if hardware else None,
        sleep_time=runtime.sleep_time,
        variables=variables,
        secrets=set(api.get_space_secrets(repo_id)),
    )


def changes(desired: SpaceSettings, hub: HubSettings | None) -> list[Change]:
    """What differs (everything declared, when the Hub's state is unknown)."""
    todo = []
    current = hub or HubSettings(None, None, {}, set())
    if desired.hardware and desired.hardware != current.hardware:
        todo.append(Change("hardware", desired.hardware, current.hardware))
    if desired.sleep_time is not None and desired.sleep_time != current.sleep_time:
        old = None if current.sleep_time is None else str(current.sleep_time)
        todo.append(Change("sleep_time", str(desired.sleep_time), old))
    for name, value in desired.variables.items():
        old_value, old_description = current.variables.get(name, (None, None))
        description = desired.descriptions.get(name, old_description)
        if value != old_value or description != old_description:
            todo.append(Change("variable", value, old_value, name))
    return todo


def missing_secrets(desired: SpaceSettings, hub: HubSettings) -> list[str]:
    """Required secrets the Space does not have yet."""
    return [name for name in desired.secrets if name not in hub.secrets]


def apply(api: Any, repo_id: str, desired: SpaceSettings, todo: list[Change]) -> None:
    """Make the changes on the Hub, printing each (values of variables are not secret)."""
    for change in todo:
        if change.what == "hardware":
            sleep = desired.sleep_time if change.new != FREE_HARDWARE else None
            api.request_space_hardware(repo_id, change.new, sleep_time=sleep)
        elif change.what == "sleep_time":
            if not any(c.what == "hardware" for c in todo):  # already sent with the hardware
                api.set_space_sleep_time(repo_id, int(change.new))
        else:
            description = desired.descriptions.get(str(change.name))
            api.add_space_variable(repo_id, change.name, change.new, description=description)
        print(f"  set {change}", flush=True)


def apply_settings(api: Any, repo_id: str, desired: SpaceSettings) -> bool:
    """Check the required secrets exist, then set what differs; False when a secret is missing."""
    hub = read_hub(api, repo_id)
    missing = missing_secrets(desired, hub)
    if missing:
        print(
            f"error: {repo_id} lacks the secret(s) {', '.join(missing)} that {SETTINGS_FILE} "
            "requires: add them under the Space's Settings -> Variables and secrets, then deploy "
            "again",
            file=sys.stderr,
        )
        return False
    todo = changes(desired, hub)
    print(f"settings of {repo_id}: {len(todo)} change(s)")
    apply(api, repo_id, desired, todo)
    return True


def settings_preview(
    desired: SpaceSettings | None, repo_id: str, token: str | None
) -> dict[str, Any] | None:
    """For --dry-run: the declared settings and what would change, compared with the Hub when a
    token can read it (else every declared setting is listed as a change)."""
    if desired is None:
        return None
    hub, compared = None, "the Hub"
    if token is None:
        compared = "nothing: no HF_TOKEN to read the Space's current settings"
    else:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import RepositoryNotFoundError

        try:
            hub = read_hub(HfApi(token=token), repo_id)
        except RepositoryNotFoundError:
            compared = "nothing: the Space does not exist yet"
        except Exception as exc:
            compared = f"nothing: the Hub could not be read ({type(exc).__name__})"
    return {
        "file": SETTINGS_FILE,
        **desired.as_dict(),
        "compared_with": compared,
        "changes": [c.as_dict() for c in changes(desired, hub)],
        "missing_secrets": None if hub is None else missing_secrets(desired, hub),
    }
