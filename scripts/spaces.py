"""List, validate, deploy and watch the Space folders under spaces/ (from a laptop or Actions).

    python scripts/spaces.py list [NAME] [--names] [--changed]
    python scripts/spaces.py validate [NAME]
    python scripts/spaces.py deploy NAME --owner OWNER [--dry-run] [--timeout S] [--poll S]
    python scripts/spaces.py status [NAME] [--owner OWNER] [--json]
    python scripts/spaces.py logs NAME [--owner OWNER] [--build] [--follow]

The token comes from HF_TOKEN, or from Trusted Publishers when HF_OIDC_RESOURCE is set (see
scripts/space_auth.py); it is never printed. --owner defaults to $HF_OWNER. Exit code 0 means
no problem.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python scripts/spaces.py`: make `scripts` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.space_auth import AuthError, credentials, mask, secrets_to_mask
from scripts.space_checks import validate
from scripts.space_deploy import make_plan, run_deploy
from scripts.space_folder import SPACES_DIR, SpaceFolder, discover, select
from scripts.space_status import failed, print_logs, print_table, space_status

# A change to any of these redeploys every Space: they decide how a Space is deployed.
SHARED_DEPLOY_PATHS = (
    "scripts/space*.py",  # git pathspec: spaces.py and every space_*.py helper
    "scripts/requirements-deploy.txt",
    ".github/workflows/deploy.yml",
)
TAG_PREFIX = "deployed/"


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run git in `cwd`, capturing text output."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def work_tree(path: Path) -> Path:
    """The top of the git work tree holding `path` (ValueError outside git)."""
    top = _git(path, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise ValueError(f"{path} is not inside a git work tree: --changed needs git history")
    return Path(top.stdout.strip())


def change_reason(space: SpaceFolder, head: str) -> str | None:
    """Why `space` needs deploying at `head`, or None when its deployed/<name> tag is current.

    A Space is deployed when it has no tag yet, or when its folder or a shared deploy file
    changed between the tag and `head`. It is never deployed when the tag already points at
    `head` or a newer commit (a late run must not put older code back).
    """
    top = work_tree(space.path)
    tag = f"refs/tags/{TAG_PREFIX}{space.name}"
    if _git(top, "rev-parse", "-q", "--verify", f"{tag}^{{commit}}").returncode != 0:
        return "never deployed (no tag)"
    if _git(top, "merge-base", "--is-ancestor", head, tag).returncode == 0:
        return None
    folder = f"{space.path.relative_to(top).as_posix()}/"
    diff = _git(top, "diff", "--name-only", tag, head, "--", folder, *SHARED_DEPLOY_PATHS)
    if diff.returncode != 0:
        return f"cannot diff against the tag, deploying ({diff.stderr.strip()})"
    changed = diff.stdout.split()
    shared = [f for f in changed if not f.startswith(folder)]
    if shared:
        return f"shared deploy files changed: {', '.join(shared)}"
    return "folder changed" if changed else None


def cmd_list(args: argparse.Namespace, spaces: list[SpaceFolder]) -> int:
    """Print the Space folders as JSON (full records, or names for a workflow matrix)."""
    spaces = select(spaces, args.name)
    if args.changed:
        kept = []
        for space in spaces:
            reason = change_reason(space, args.head)
            print(f"{space.name}: {reason or 'up to date'}", file=sys.stderr)
            if reason:
                kept.append(space)
        spaces = kept
    records = [s.name for s in spaces] if args.names else [s.summary() for s in spaces]
    print(json.dumps(records, indent=None if args.names else 2))
    return 0


def cmd_validate(args: argparse.Namespace, spaces: list[SpaceFolder]) -> int:
    """Print every problem of the chosen folders; exit 1 if there is any."""
    failed = 0
    for space in select(spaces, args.name):
        problems = validate(space)
        label = space.summary()["path"]
        if problems:
            failed += 1
            print(f"✗ {label}: {len(problems)} problem(s)")
            for problem in problems:
                print(f"  - {label}: {problem}")
        else:
            print(f"✓ {label} ({space.sdk})")
    return 1 if failed else 0


def cmd_deploy(args: argparse.Namespace, spaces: list[SpaceFolder]) -> int:
    """Validate, then print the plan (--dry-run) or carry it out with HfApi."""
    space = select(spaces, args.name)[0]
    if not args.skip_validation:
        problems = validate(space)
        if problems:
            for problem in problems:
                print(f"error: spaces/{space.name}: {problem}", file=sys.stderr)
            return 1
    plan = make_plan(space, args.owner)
    creds = credentials(plan.repo_id, exchange=not args.dry_run)
    if args.dry_run:
        print(json.dumps(plan.as_dict(creds), indent=2))
        return 0
    if creds.token is None:
        print(
            "error: HF_TOKEN is not set, nor HF_OIDC_RESOURCE (a write token, or Trusted "
            "Publishers in GitHub Actions, is needed to deploy)",
            file=sys.stderr,
        )
        return 2
    try:
        return run_deploy(plan, creds, timeout=args.timeout, poll=args.poll)
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:  # last guard: no traceback can echo a token
        print(f"error: {mask(repr(exc), creds.token, *secrets_to_mask())}", file=sys.stderr)
        return 1


def _hub(args: argparse.Namespace) -> object:
    """HfApi for reading: HF_TOKEN if set, else whatever huggingface_hub finds (or none)."""
    from huggingface_hub import HfApi

    if not args.owner:
        raise ValueError("no owner: pass --owner or set HF_OWNER")
    return HfApi(token=os.environ.get("HF_TOKEN") or None)


def cmd_status(args: argparse.Namespace, spaces: list[SpaceFolder]) -> int:
    """Stage, hardware, commit and URL of each Space on the Hub; exit 1 if one is in error."""
    api = _hub(args)
    try:
        records = [space_status(api, s, args.owner) for s in select(spaces, args.name)]
    except Exception as exc:
        message = mask(str(exc), *secrets_to_mask())
        print(f"error: could not read the Hub: {message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        print_table(records)
    return 1 if failed(records) else 0


def cmd_logs(args: argparse.Namespace, spaces: list[SpaceFolder]) -> int:
    """Print the build (--build) or run logs of one Space."""
    api = _hub(args)
    repo_id = f"{args.owner}/{select(spaces, args.name)[0].name}"
    try:
        return print_logs(api, repo_id, build=args.build, follow=args.follow)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = mask(str(exc), *secrets_to_mask())
        print(f"error: could not fetch the logs of {repo_id}: {message}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    """The command line: list / validate / deploy."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--spaces-dir", type=Path, default=SPACES_DIR, help="folder holding the Space folders"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    listing = sub.add_parser("list", help="the Space folders and their SDK, as JSON")
    listing.add_argument("name", nargs="?", help="one Space folder, or 'all' (the default)")
    listing.add_argument("--names", action="store_true", help="a JSON array of names only")
    listing.add_argument(
        "--changed",
        action="store_true",
        help=f"only those changed since their {TAG_PREFIX}<name> tag (all without a tag)",
    )
    listing.add_argument("--head", default="HEAD", help="the commit to compare (default HEAD)")

    check = sub.add_parser("validate", help="check the folders are complete, working Spaces")
    check.add_argument("name", nargs="?", help="one Space folder (default: all)")

    deploy = sub.add_parser("deploy", help="create/update the Space on the Hub, wait, smoke-test")
    deploy.add_argument("name", help="the Space folder to deploy")
    deploy.add_argument("--owner", required=True, help="Hub user or organization to deploy to")
    deploy.add_argument("--dry-run", action="store_true", help="print the plan, touch nothing")
    deploy.add_argument(
        "--timeout", type=float, default=1800, help="seconds to wait for the Space to run"
    )
    deploy.add_argument(
        "--poll", type=float, default=10, help="seconds between two looks at the Space's stage"
    )
    deploy.add_argument(
        "--skip-validation", action="store_true", help="deploy without running validate first"
    )

    owner = {"default": os.environ.get("HF_OWNER"), "help": "Hub user or organization ($HF_OWNER)"}
    status = sub.add_parser("status", help="stage, hardware, commit and URL of each Space")
    status.add_argument("name", nargs="?", help="one Space folder (default: all)")
    status.add_argument("--owner", **owner)
    status.add_argument("--json", action="store_true", help="a JSON array instead of a table")

    logs = sub.add_parser("logs", help="the run logs (or --build logs) of one Space")
    logs.add_argument("name", help="the Space folder")
    logs.add_argument("--owner", **owner)
    logs.add_argument("--build", action="store_true", help="the build logs, not the run logs")
    logs.add_argument("--follow", action="store_true", help="keep streaming until interrupted")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    if not args.spaces_dir.is_dir():
        print(f"error: {args.spaces_dir} is not a folder", file=sys.stderr)
        return 2
    spaces = discover(args.spaces_dir.resolve())
    commands = {"list": cmd_list, "validate": cmd_validate, "deploy": cmd_deploy}
    commands |= {"status": cmd_status, "logs": cmd_logs}
    try:
        return commands[args.command](args, spaces)
    except AuthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
