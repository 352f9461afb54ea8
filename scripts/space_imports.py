"""The check that a Space's code stays inside its folder (what "Duplicate this Space" copies)."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from functools import cache
from pathlib import Path

from packaging.utils import canonicalize_name

from scripts.space_folder import REPO, SpaceFolder, upload_files
from scripts.space_requirements import (
    dependency_closure,
    dockerfile_pip_installs,
    requirement_names,
    requirement_pins,
)


def check_self_contained(space: SpaceFolder) -> list[str]:
    """The Python code imports only the stdlib, installed packages and modules of the folder.

    Importing a module the repository defines elsewhere (another Space's package, `scripts`,
    `bench`...) is always a problem. An import nothing provides is one too, but only when the
    Space's own requirements are installed here: in a lean deploy environment it cannot be told
    from a package that is simply not installed. A static Space runs no Python: nothing to check.
    """
    if space.sdk == "static":
        return []
    files = [f for f in upload_files(space.path) if f.endswith(".py")]
    local = local_modules(files)
    elsewhere = {
        name: where for name, where in repo_modules(space.path).items() if name not in local
    }
    strict = requirements_installed(space.path / "requirements.txt")
    declared = declared_distributions(space) if strict else set()
    problems = []
    for rel in files:
        try:
            tree = ast.parse((space.path / rel).read_text(), filename=rel)
        except SyntaxError as exc:
            problems.append(f"{rel}:{exc.lineno}: does not parse: {exc.msg}")
            continue
        problems += _relative_import_problems(rel, tree)
        optional = _optional_import_lines(tree)
        for lineno, name in _absolute_imports(tree):
            top = name.split(".")[0]
            if top in elsewhere:
                problems.append(
                    f"{rel}:{lineno}: imports {name!r} from {elsewhere[top]}, outside the folder "
                    "(a duplicated Space would not have it)"
                )
            elif lineno in optional:
                continue  # inside `try: ... except ImportError`: the code copes without it
            elif strict and not _known_module(top, local):
                problems.append(
                    f"{rel}:{lineno}: imports {name!r}, which is neither in this folder, "
                    "the standard library nor an installed package"
                )
            elif strict and (missing := _undeclared(top, local, declared)):
                problems.append(
                    f"{rel}:{lineno}: imports {name!r} from {missing}, which is installed here "
                    "but not by the Space's requirements.txt (or its Dockerfile)"
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
def module_providers() -> dict[str, list[str]]:
    """Top-level import name -> the installed distributions that provide it."""
    return importlib.metadata.packages_distributions()


def _known_module(top: str, local: set[str]) -> bool:
    """True when the stdlib, the folder or an installed distribution provides `top`."""
    return top in sys.stdlib_module_names or top in local or top in module_providers()


def declared_distributions(space: SpaceFolder) -> set[str]:
    """Distributions the Space gets on the Hub: its requirements (with their dependencies),
    the SDK's gradio, and what its Dockerfile installs by name."""
    wanted: dict[str, frozenset[str]] = {}
    for path in sorted(space.path.glob("requirements*.txt")):  # e.g. requirements-train.txt too
        wanted.update(requirement_names(path))
    if space.sdk == "gradio":
        wanted.setdefault("gradio", frozenset())
    for name in dockerfile_pip_installs(space.path / "Dockerfile"):
        wanted.setdefault(name, frozenset())
    return dependency_closure(wanted)


def _undeclared(top: str, local: set[str], declared: set[str]) -> str | None:
    """The distribution providing `top` when none of its providers is declared, else None."""
    if top in sys.stdlib_module_names or top in local:
        return None
    providers = module_providers().get(top, [])
    if not providers or any(canonicalize_name(d) in declared for d in providers):
        return None
    return providers[0]


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


OPTIONAL_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception"}


def _optional_import_lines(tree: ast.AST) -> set[int]:
    """Lines of imports inside a `try` whose handler catches ImportError (optional imports)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = {ast.unparse(h.type) if h.type else "Exception" for h in node.handlers}
        names = {n.strip("() ") for c in caught for n in c.split(",")}
        if names & OPTIONAL_IMPORT_ERRORS:
            for child in node.body:
                lines |= {
                    n.lineno for n in ast.walk(child) if isinstance(n, ast.Import | ast.ImportFrom)
                }
    return lines


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
