"""The checks `spaces.py validate` runs on a Space folder; each returns human-readable problems."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from scripts.space_dockerfile import (
    dev_mode_problems,
    dockerfile_instructions,
    exposed_ports,
    final_stage,
    user_at_start,
)
from scripts.space_folder import SpaceFolder, upload_files
from scripts.space_imports import check_self_contained
from scripts.space_requirements import dev_gradio_version, is_pinned, requirement_pins
from scripts.space_settings import check_space_settings

SDKS = ("gradio", "docker", "static")
MAX_FILE_BYTES = 10 * 1024 * 1024
STATIC_MAX_BYTES = 10 * 1024 * 1024  # all the files of a static Space, together
EXACT_NPM_VERSION = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")

Check = Callable[[SpaceFolder], list[str]]


# --- the card ---------------------------------------------------------------------------------


def check_name(space: SpaceFolder) -> list[str]:
    """The folder name becomes the Space name: letters, digits, '-', '_', '.' only."""
    if REPO_NAME.match(space.name) and ".." not in space.name:
        return []
    return [f"folder name {space.name!r} is not a valid Space name (letters, digits, - _ .)"]


def check_title(space: SpaceFolder) -> list[str]:
    """The card has a non-empty `title`."""
    title = space.card.get("title")
    return [] if isinstance(title, str) and title.strip() else ["front matter has no `title`"]


def check_sdk(space: SpaceFolder) -> list[str]:
    """`sdk` is one the Hub serves: gradio, docker or static."""
    if space.sdk in SDKS:
        return []
    return [f"front matter `sdk` is {space.sdk!r}; expected one of {', '.join(SDKS)}"]


def check_app_file(space: SpaceFolder) -> list[str]:
    """A Gradio Space names its `app_file`, and that file exists in the folder. A static Space's
    page (`app_file`, index.html when unset, as on the Hub) is one of the files uploaded."""
    if space.sdk == "static":
        return _static_page(space)
    if space.sdk != "gradio":
        return []
    app_file = space.card.get("app_file")
    if not app_file:
        return ["front matter has no `app_file` (required for sdk: gradio)"]
    if not (space.path / str(app_file)).is_file():
        return [f"`app_file` {app_file} does not exist in the folder"]
    return []


def _static_page(space: SpaceFolder) -> list[str]:
    """The page of a static Space is in the folder (a build step may add files, not the page)."""
    page = str(space.card.get("app_file") or "index.html")
    if not (space.path / page).is_file():
        return [f"`app_file` {page} does not exist in the folder"]
    if page not in upload_files(space.path):
        return [f"`app_file` {page} is ignored, so it would not be uploaded"]
    return []


def check_app_port(space: SpaceFolder) -> list[str]:
    """A Docker Space states the port it listens on as `app_port`."""
    if space.sdk != "docker":
        return []
    port = space.card.get("app_port")
    if isinstance(port, int) and 0 < port < 65536:
        return []
    if port is None:
        return ["front matter has no `app_port` (required for sdk: docker; the Hub assumes 7860)"]
    return [f"front matter `app_port` {port!r} is not a port number"]


def check_python_version(space: SpaceFolder) -> list[str]:
    """The card pins `python_version` so the Hub builds with the Python the tests used."""
    if space.sdk == "static" or space.card.get("python_version"):
        return []
    return ["front matter has no `python_version`"]


def check_sdk_version(space: SpaceFolder) -> list[str]:
    """A Gradio Space's `sdk_version` equals the development gradio pin (and its own pin)."""
    if space.sdk != "gradio":
        return []
    expected = dev_gradio_version()
    found = str(space.card.get("sdk_version", "")) or None
    problems = []
    if found != expected:
        problems.append(
            f"front matter `sdk_version` is {found!r} but development pins gradio=={expected}"
        )
    pinned = requirement_pins(space.path / "requirements.txt").get("gradio")
    if pinned and pinned != found:
        problems.append(f"requirements.txt pins gradio=={pinned} but `sdk_version` is {found!r}")
    return problems


# --- the files --------------------------------------------------------------------------------


def check_requirements_pinned(space: SpaceFolder) -> list[str]:
    """Every requirement in requirements.txt is pinned with `==` (options and comments allowed)."""
    path = space.path / "requirements.txt"
    if not path.is_file():
        return []
    problems = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.split(" #", 1)[0].strip()
        if not text or text.startswith(("#", "-")):
            continue
        if not is_pinned(text):
            problems.append(f"requirements.txt line {number} is not pinned with ==: {text!r}")
    return problems


def check_file_sizes(space: SpaceFolder) -> list[str]:
    """No file that would be uploaded is over 10 MB (the Hub wants those in LFS/Xet or built)."""
    problems = []
    for rel in upload_files(space.path):
        size = (space.path / rel).stat().st_size
        if size > MAX_FILE_BYTES:
            problems.append(f"{rel} is {size / 1e6:.1f} MB, over the 10 MB limit")
    return problems


def check_static_weight(space: SpaceFolder) -> list[str]:
    """A static Space's files go as they are to every visitor's browser: together they stay under
    10 MB. Large runtime files come from npm in the Hub's build step, models from the Hub."""
    if space.sdk != "static":
        return []
    total = sum((space.path / rel).stat().st_size for rel in upload_files(space.path))
    if total <= STATIC_MAX_BYTES:
        return []
    return [
        f"the files to upload weigh {total / 1e6:.1f} MB together, over the 10 MB of a static "
        "Space (build large files with app_build_command, or load models from the Hub)"
    ]


def check_static_build(space: SpaceFolder) -> list[str]:
    """A static Space with a package.json pins its npm packages exactly, locks them in
    package-lock.json, and runs `npm ci` as `app_build_command`, so the Hub builds those."""
    if space.sdk != "static" or not (space.path / "package.json").is_file():
        return []
    try:
        package = json.loads((space.path / "package.json").read_text())
    except ValueError as exc:
        return [f"package.json does not parse: {exc}"]
    problems = [
        f"package.json asks for {name} {spec!r}, not an exact version"
        for section in ("dependencies", "devDependencies")
        for name, spec in package.get(section, {}).items()
        if not EXACT_NPM_VERSION.match(str(spec))
    ]
    lock = space.path / "package-lock.json"
    if not lock.is_file():
        problems.append("package.json has no package-lock.json beside it (npm ci needs one)")
    else:
        locked = json.loads(lock.read_text()).get("packages", {}).get("", {})
        sections = ("dependencies", "devDependencies")
        if any(locked.get(k, {}) != package.get(k, {}) for k in sections):
            problems.append("package-lock.json does not match package.json (run npm install)")
    if "npm ci" not in str(space.card.get("app_build_command") or ""):
        problems.append(
            "front matter `app_build_command` does not run `npm ci`: the Hub would not install "
            "the packages of package.json"
        )
    return problems


def check_dockerfile(space: SpaceFolder) -> list[str]:
    """A Docker Space has a Dockerfile that EXPOSEs `app_port` and does not run as root."""
    if space.sdk != "docker":
        return []
    path = space.path / "Dockerfile"
    if not path.is_file():
        return ["sdk is docker but there is no Dockerfile"]
    final = final_stage(dockerfile_instructions(path.read_text()))
    problems = []
    port = space.card.get("app_port")
    exposed = exposed_ports(final)
    if port is not None and str(port) not in exposed:
        shown = ", ".join(sorted(exposed)) or "nothing"
        problems.append(f"Dockerfile does not EXPOSE app_port {port} (exposes {shown})")
    user = user_at_start(final)
    if user is None:
        problems.append("Dockerfile has no USER instruction: the container would run as root")
    elif user.split(":")[0] in ("root", "0"):
        problems.append(f"Dockerfile runs as root (USER {user}); use the uid 1000 user")
    return problems


def check_dev_mode(space: SpaceFolder) -> list[str]:
    """A Docker Space's image meets Dev Mode's needs: bash, curl, wget, procps, git and git-lfs
    installed, the app in /app owned by uid 1000, and a CMD that starts it."""
    path = space.path / "Dockerfile"
    if space.sdk != "docker" or not path.is_file():
        return []
    return dev_mode_problems(path.read_text())


# --- running them -----------------------------------------------------------------------------

CARD_CHECKS: tuple[Check, ...] = (
    check_title,
    check_sdk,
    check_app_file,
    check_app_port,
    check_sdk_version,
    check_python_version,
)
FOLDER_CHECKS: tuple[Check, ...] = (
    check_name,
    check_requirements_pinned,
    check_file_sizes,
    check_static_weight,
    check_static_build,
    check_self_contained,
    check_dockerfile,
    check_dev_mode,
    check_space_settings,
)


def validate(space: SpaceFolder) -> list[str]:
    """Every problem of one Space folder (card checks only when the card parsed)."""
    problems = [space.card_error] if space.card_error else []
    checks = FOLDER_CHECKS if space.card_error else CARD_CHECKS + FOLDER_CHECKS
    for check in checks:
        problems += check(space)
    return problems
