"""The checks `spaces.py validate` runs on a Space folder; each returns human-readable problems."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from scripts.space_folder import REPO, SpaceFolder, upload_files

SDKS = ("gradio", "docker", "static")
MAX_FILE_BYTES = 10 * 1024 * 1024
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
    """A Gradio Space names its `app_file`, and that file exists in the folder."""
    if space.sdk != "gradio":
        return []
    app_file = space.card.get("app_file")
    if not app_file:
        return ["front matter has no `app_file` (required for sdk: gradio)"]
    if not (space.path / str(app_file)).is_file():
        return [f"`app_file` {app_file} does not exist in the folder"]
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
        if not _is_pinned(text):
            problems.append(f"requirements.txt line {number} is not pinned with ==: {text!r}")
    return problems


def _is_pinned(text: str) -> bool:
    """True for `name==1.2.3` (markers and extras allowed), not for ranges, wildcards or URLs."""
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return False
    specs = list(requirement.specifier)
    return (
        requirement.url is None
        and len(specs) == 1
        and specs[0].operator in ("==", "===")
        and not specs[0].version.endswith(".*")
    )


def check_file_sizes(space: SpaceFolder) -> list[str]:
    """No file that would be uploaded is over 10 MB (the Hub wants those in LFS/Xet or built)."""
    problems = []
    for rel in upload_files(space.path):
        size = (space.path / rel).stat().st_size
        if size > MAX_FILE_BYTES:
            problems.append(f"{rel} is {size / 1e6:.1f} MB, over the 10 MB limit")
    return problems


def check_dockerfile(space: SpaceFolder) -> list[str]:
    """A Docker Space has a Dockerfile that EXPOSEs `app_port` and does not run as root."""
    if space.sdk != "docker":
        return []
    path = space.path / "Dockerfile"
    if not path.is_file():
        return ["sdk is docker but there is no Dockerfile"]
    instructions = dockerfile_instructions(path.read_text())
    final = _final_stage(instructions)
    problems = []
    port = space.card.get("app_port")
    exposed = _exposed_ports(final)
    if port is not None and str(port) not in exposed:
        shown = ", ".join(sorted(exposed)) or "nothing"
        problems.append(f"Dockerfile does not EXPOSE app_port {port} (exposes {shown})")
    user = _user_at_start(final)
    if user is None:
        problems.append("Dockerfile has no USER instruction: the container would run as root")
    elif user.split(":")[0] in ("root", "0"):
        problems.append(f"Dockerfile runs as root (USER {user}); use the uid 1000 user")
    return problems


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\s*\n", " ", text)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            pairs.append((keyword.upper(), args.strip()))
    return pairs


def _final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The instructions from the last FROM on: the stage that becomes the image."""
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    return instructions[starts[-1] :] if starts else instructions


def _variables(stage: list[tuple[str, str]]) -> dict[str, str]:
    """Defaults of ARG and ENV (KEY=value forms), for resolving `EXPOSE $PORT`."""
    values: dict[str, str] = {}
    for keyword, args in stage:
        if keyword in ("ARG", "ENV"):
            for key, value in re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", args):
                values[key] = value.strip('"')
    return values


def _exposed_ports(stage: list[tuple[str, str]]) -> set[str]:
    """The port numbers of every EXPOSE in the stage, variables resolved, protocols dropped."""
    values = _variables(stage)
    ports = set()
    for keyword, args in stage:
        if keyword == "EXPOSE":
            for token in args.split():
                token = re.sub(
                    r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), token
                )
                ports.add(token.split("/")[0])
    return ports


def _user_at_start(stage: list[tuple[str, str]]) -> str | None:
    """The USER in force when the container starts (the last USER of the final stage)."""
    users = [args for keyword, args in stage if keyword == "USER"]
    return users[-1] if users else None


# --- the code stays inside the folder -----------------------------------------------------------


def check_self_contained(space: SpaceFolder) -> list[str]:
    """The Python code imports only the stdlib, installed packages and modules of the folder.

    Importing a module the repository defines elsewhere (another Space's package, `scripts`,
    `bench`...) is always a problem. An import nothing provides is one too, but only when the
    Space's own requirements are installed here: in a lean deploy environment it cannot be told
    from a package that is simply not installed.
    """
    files = [f for f in upload_files(space.path) if f.endswith(".py")]
    local = local_modules(files)
    elsewhere = {
        name: where for name, where in repo_modules(space.path).items() if name not in local
    }
    strict = requirements_installed(space.path / "requirements.txt")
    problems = []
    for rel in files:
        try:
            tree = ast.parse((space.path / rel).read_text(), filename=rel)
        except SyntaxError as exc:
            problems.append(f"{rel}:{exc.lineno}: does not parse: {exc.msg}")
            continue
        problems += _relative_import_problems(rel, tree)
        for lineno, name in _absolute_imports(tree):
            top = name.split(".")[0]
            if top in elsewhere:
                problems.append(
                    f"{rel}:{lineno}: imports {name!r} from {elsewhere[top]}, outside the folder "
                    "(a duplicated Space would not have it)"
                )
            elif strict and not _known_module(top, local):
                problems.append(
                    f"{rel}:{lineno}: imports {name!r}, which is neither in this folder, "
                    "the standard library nor an installed package"
                )
        problems += _sys_path_problems(rel, tree)
    return problems


def local_modules(files: list[str]) -> set[str]:
    """Top-level module names the folder provides: root *.py files and root packages."""
    names = set()
    for rel in files:
        first = rel.split("/")[0]
        names.add(first.removesuffix(".py") if "/" not in rel else first)
    return names


def repo_modules(folder: Path) -> dict[str, str]:
    """Top-level modules defined around the folder: repository root, spaces/*, sibling folders."""
    roots = [REPO, *sorted((REPO / "spaces").glob("*/")), *sorted(folder.parent.glob("*/"))]
    found: dict[str, str] = {}
    for root in roots:
        if root.resolve() == folder.resolve() or not root.is_dir():
            continue
        for entry in sorted(root.iterdir()):
            if entry.suffix == ".py" or (entry / "__init__.py").is_file():
                where = entry.relative_to(REPO) if entry.is_relative_to(REPO) else entry
                found.setdefault(entry.stem if entry.is_file() else entry.name, str(where))
    return found


@cache
def installed_modules() -> frozenset[str]:
    """Top-level import names provided by the installed distributions of this environment."""
    return frozenset(importlib.metadata.packages_distributions())


def _known_module(top: str, local: set[str]) -> bool:
    """True when the stdlib, the folder or an installed distribution provides `top`."""
    return top in sys.stdlib_module_names or top in local or top in installed_modules()


def requirements_installed(path: Path) -> bool:
    """True when every distribution of a requirements file is installed in this environment."""
    for name in requirement_pins(path):
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return False
    return True


def _absolute_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name) of every absolute import."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.append((node.lineno, node.module))
    return found


def _relative_import_problems(rel: str, tree: ast.AST) -> list[str]:
    """Relative imports that climb above the folder root."""
    depth = rel.count("/")
    return [
        f"{rel}:{node.lineno}: relative import climbs above the folder root "
        f"({'.' * node.level}{node.module or ''})"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level > depth
    ]


SYS_PATH_CALLS = {"insert", "append", "extend"}


def _sys_path_problems(rel: str, tree: ast.AST) -> list[str]:
    """sys.path changes whose target leaves the folder (or cannot be checked statically)."""
    problems = []
    for node in ast.walk(tree):
        target = _sys_path_target(node)
        if target is None:
            continue
        where = _static_path(target, depth=rel.count("/"))
        if where is None:
            problems.append(f"{rel}:{node.lineno}: changes sys.path with a value not checkable")
        elif where.startswith(".."):
            problems.append(f"{rel}:{node.lineno}: adds {where!r} to sys.path, outside the folder")
    return problems


def _sys_path_target(node: ast.AST) -> ast.expr | None:
    """The path expression given to sys.path.insert/append/extend or site.addsitedir, if any."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return None
    owner = ast.unparse(node.func.value)
    if owner == "sys.path" and node.func.attr in SYS_PATH_CALLS and node.args:
        return node.args[-1]
    if owner == "site" and node.func.attr == "addsitedir" and node.args:
        return node.args[0]
    return None


def _static_path(expr: ast.expr, depth: int) -> str | None:
    """Where a path expression points, relative to the folder root ('..'-prefixed when outside).

    Understands `__file__`, Path(...), .parent, .parents[n], .resolve(), the `/` operator,
    os.path.dirname/abspath/join and string constants; returns None for anything else.
    """
    parts = _path_parts(expr, depth)
    if parts is None:
        return None
    ups = 0
    normal: list[str] = []
    for part in parts:
        if part == "..":
            if normal:
                normal.pop()
            else:
                ups += 1
        elif part not in ("", "."):
            normal.append(part)
    return "/".join([".."] * ups + normal) or "."


def _path_parts(expr: ast.expr, depth: int) -> list[str] | None:
    """The path as a list of segments relative to the folder root, or None if unknown."""
    if isinstance(expr, ast.Name) and expr.id == "__file__":
        return ["x"] * depth + ["__file__"]
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return None if expr.value.startswith("/") else expr.value.split("/")
    if isinstance(expr, ast.Attribute) and expr.attr == "parent":
        inner = _path_parts(expr.value, depth)
        return None if inner is None else [*inner, ".."]
    if isinstance(expr, ast.Subscript) and ast.unparse(expr.value).endswith(".parents"):
        inner = _path_parts(expr.value.value, depth)  # type: ignore[attr-defined]
        index = expr.slice.value if isinstance(expr.slice, ast.Constant) else None
        return None if inner is None or not isinstance(index, int) else inner + [".."] * (index + 1)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
        left, right = _path_parts(expr.left, depth), _path_parts(expr.right, depth)
        return None if left is None or right is None else left + right
    if isinstance(expr, ast.Call):
        return _call_parts(expr, depth)
    return None


def _call_parts(call: ast.Call, depth: int) -> list[str] | None:
    """Path segments for the calls that keep or trim a path (Path, str, resolve, dirname, join)."""
    func = ast.unparse(call.func)
    if isinstance(call.func, ast.Attribute) and call.func.attr in ("resolve", "absolute"):
        return _path_parts(call.func.value, depth)
    if func in ("Path", "pathlib.Path", "str", "os.path.abspath", "os.path.realpath") and call.args:
        return _path_parts(call.args[0], depth)
    if func == "os.path.dirname" and call.args:
        inner = _path_parts(call.args[0], depth)
        return None if inner is None else [*inner, ".."]
    if func == "os.path.join" and call.args:
        parts = [_path_parts(arg, depth) for arg in call.args]
        return None if any(p is None for p in parts) else [s for p in parts for s in p or []]
    return None


# --- the development pins ---------------------------------------------------------------------


def requirement_pins(path: Path, seen: frozenset[Path] = frozenset()) -> dict[str, str]:
    """name -> pinned version from a requirements file, following `-r` includes."""
    pins: dict[str, str] = {}
    if not path.is_file() or path in seen:
        return pins
    for line in path.read_text().splitlines():
        text = line.split(" #", 1)[0].strip()
        if text.startswith(("-r ", "--requirement ")):
            include = (path.parent / text.split(maxsplit=1)[1]).resolve()
            pins = {**requirement_pins(include, seen | {path}), **pins}
        elif text and not text.startswith(("#", "-")) and _is_pinned(text):
            requirement = Requirement(text)
            pins.setdefault(
                canonicalize_name(requirement.name), next(iter(requirement.specifier)).version
            )
    return pins


@cache
def dev_gradio_version() -> str:
    """The gradio pinned for development (requirements-dev.txt and its includes), else installed."""
    pinned = requirement_pins(REPO / "requirements-dev.txt").get("gradio")
    return pinned or importlib.metadata.version("gradio")


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
    check_self_contained,
    check_dockerfile,
)


def validate(space: SpaceFolder) -> list[str]:
    """Every problem of one Space folder (card checks only when the card parsed)."""
    problems = [space.card_error] if space.card_error else []
    checks = FOLDER_CHECKS if space.card_error else CARD_CHECKS + FOLDER_CHECKS
    for check in checks:
        problems += check(space)
    return problems
