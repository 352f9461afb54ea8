"""Reading a Space's Dockerfile: instructions, final stage, ports, user, and Dev Mode's needs."""

from __future__ import annotations

import re
import shlex

# https://huggingface.co/docs/hub/spaces-dev-mode: what a Docker Space needs for Dev Mode.
DEV_MODE_PACKAGES = ("bash", "curl", "wget", "procps", "git", "git-lfs")
DEV_MODE_DIR = "/app"
DEV_MODE_UID = "1000"

Instructions = list[tuple[str, str]]


def dockerfile_instructions(text: str) -> Instructions:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\s*\n", " ", text)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            pairs.append((keyword.upper(), args.strip()))
    return pairs


def final_stage(instructions: Instructions) -> Instructions:
    """The instructions from the last FROM on: the stage that becomes the image."""
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    return instructions[starts[-1] :] if starts else instructions


def variables(stage: Instructions) -> dict[str, str]:
    """Defaults of ARG and ENV (KEY=value forms), for resolving `EXPOSE $PORT`."""
    values: dict[str, str] = {}
    for keyword, args in stage:
        if keyword in ("ARG", "ENV"):
            for key, value in re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", args):
                values[key] = value.strip('"')
    return values


def exposed_ports(stage: Instructions) -> set[str]:
    """The port numbers of every EXPOSE in the stage, variables resolved, protocols dropped."""
    values = variables(stage)
    ports = set()
    for keyword, args in stage:
        if keyword == "EXPOSE":
            for token in args.split():
                token = re.sub(
                    r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), token
                )
                ports.add(token.split("/")[0])
    return ports


def user_at_start(stage: Instructions) -> str | None:
    """The USER in force when the container starts (the last USER of the final stage)."""
    users = [args for keyword, args in stage if keyword == "USER"]
    return users[-1] if users else None


def build_args(text: str) -> dict[str, str | None]:
    """Every ARG of the Dockerfile (any stage): name -> default (None without one)."""
    found: dict[str, str | None] = {}
    for keyword, args in dockerfile_instructions(text):
        if keyword == "ARG":
            name, _, default = args.partition("=")
            found[name.strip()] = default.strip().strip('"') if default else None
    return found


# --- Dev Mode ----------------------------------------------------------------------------------


def _commands(run: str) -> list[list[str]]:
    """The simple commands of a RUN line, split at &&, ||, ; and | (words shell-split)."""
    commands = []
    for part in re.split(r"&&|\|\||;|\|", run):
        try:
            words = shlex.split(part)
        except ValueError:
            words = part.split()
        if words:
            commands.append(words)
    return commands


def apt_installed(stage: Instructions) -> set[str]:
    """Package names passed to `apt-get install` by the stage's RUN instructions."""
    names = set()
    for keyword, args in stage:
        if keyword != "RUN":
            continue
        for words in _commands(args):
            if words[:1] in (["apt-get"], ["apt"]) and "install" in words:
                after = words[words.index("install") + 1 :]
                names |= {w.split("=")[0] for w in after if not w.startswith("-")}
    return names


def uid_1000_names(stage: Instructions) -> set[str]:
    """'1000' and the names of the users the stage creates with uid 1000."""
    names = {DEV_MODE_UID}
    for keyword, args in stage:
        if keyword == "RUN":
            for words in _commands(args):
                if words[:1] == ["useradd"] and "-u" in words:
                    uid = words[words.index("-u") + 1 : words.index("-u") + 2]
                    names |= {words[-1]} if uid == [DEV_MODE_UID] else set()
    return names


def _gives_app_to(words: list[str], owners: set[str]) -> bool:
    """True for `chown [-R] OWNER[:GROUP] ... /app` or `install -d -o OWNER ... /app`."""
    if DEV_MODE_DIR not in words:
        return False
    if words[0] == "chown":
        return any(w.split(":")[0] in owners for w in words[1:] if not w.startswith("-"))
    if words[0] == "install" and "-d" in words and "-o" in words:
        return words[words.index("-o") + 1] in owners
    return False


def _copy_destination(args: str) -> tuple[str, list[str]]:
    """(destination, flags) of a COPY/ADD instruction in shell or JSON form."""
    words = shlex.split(args.replace("[", " ").replace("]", " ").replace(",", " "))
    flags = [w for w in words if w.startswith("--")]
    paths = [w for w in words if not w.startswith("--")]
    return (paths[-1] if paths else ""), flags


def dev_mode_problems(text: str) -> list[str]:
    """What keeps this Docker Space's image from Dev Mode (packages, /app, uid 1000, CMD)."""
    stage = final_stage(dockerfile_instructions(text))
    problems = []
    missing = [p for p in DEV_MODE_PACKAGES if p not in apt_installed(stage)]
    if missing:
        problems.append(
            f"Dev Mode needs {', '.join(DEV_MODE_PACKAGES)} installed by `apt-get install` in the "
            f"final stage; missing: {', '.join(missing)}"
        )
    workdirs = [args for keyword, args in stage if keyword == "WORKDIR"]
    workdir = workdirs[-1] if workdirs else None
    if workdir != DEV_MODE_DIR:
        problems.append(f"Dev Mode needs the app in {DEV_MODE_DIR} (the last WORKDIR is {workdir})")
    owners = uid_1000_names(stage)
    runs = [w for keyword, args in stage if keyword == "RUN" for w in _commands(args)]
    if not any(_gives_app_to(words, owners) for words in runs):
        problems.append(
            f"Dev Mode needs {DEV_MODE_DIR} owned by uid 1000: create it with "
            f"`install -d -o 1000 -g 1000 {DEV_MODE_DIR}` (or chown it) before WORKDIR"
        )
    for keyword, args in stage:
        if keyword in ("COPY", "ADD"):
            destination, flags = _copy_destination(args)
            chown = next((f.split("=", 1)[1] for f in flags if f.startswith("--chown=")), None)
            inside = destination == DEV_MODE_DIR or destination.startswith(f"{DEV_MODE_DIR}/")
            into_app = inside or not destination.startswith("/")
            if into_app and (chown is None or chown.split(":")[0] not in owners):
                problems.append(
                    f"Dev Mode needs every file in {DEV_MODE_DIR} owned by uid 1000: "
                    f"`{keyword} {args}` has no --chown to the uid 1000 user"
                )
    keywords = [keyword for keyword, _ in stage]
    if "CMD" not in keywords or "ENTRYPOINT" in keywords:
        problems.append(
            "Dev Mode needs a CMD that starts the app by itself (Dev Mode runs the CMD, "
            "so use no ENTRYPOINT)"
        )
    return problems
