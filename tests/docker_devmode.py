"""Dev Mode's needs, checked inside a built image (https://huggingface.co/docs/hub/spaces-dev-mode):
bash, curl, wget, procps, git and git-lfs; the app in /app owned by uid 1000; a CMD that starts it
with no ENTRYPOINT in the way; HF_HOME under the user's home."""

from __future__ import annotations

import json
import subprocess

# Runs in the image as its own user; prints one line per problem.
PROBE = r"""
for tool in bash curl wget ps git git-lfs; do
  command -v "$tool" >/dev/null || echo "missing: $tool"
done
git lfs version >/dev/null 2>&1 || echo "git lfs does not run"
[ "$(id -u)" = 1000 ] || echo "runs as uid $(id -u)"
[ "$(pwd)" = /app ] || echo "starts in $(pwd)"
[ "$(stat -c %u /app)" = 1000 ] || echo "/app belongs to uid $(stat -c %u /app)"
find /app ! -uid 1000 | head -3 | sed 's/^/not owned by uid 1000: /'
touch /app/.dev-mode-probe && rm /app/.dev-mode-probe || echo "/app is not writable"
case "$HF_HOME" in /home/user/*) ;; *) echo "HF_HOME is $HF_HOME" ;; esac
"""


def dev_mode_problems(image: str) -> list[str]:
    """What keeps `image` from Dev Mode, as found by running it (empty when nothing does)."""
    config = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{json .Config}}", image],
        capture_output=True,
        text=True,
        check=True,
    )
    settings = json.loads(config.stdout)
    problems = []
    if settings.get("Entrypoint"):
        problems.append(f"ENTRYPOINT {settings['Entrypoint']}: Dev Mode runs the CMD alone")
    if not settings.get("Cmd"):
        problems.append("no CMD")
    probe = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", "bash", image, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if probe.returncode != 0:
        problems.append(f"the probe failed ({probe.returncode}): {probe.stderr[-500:]}")
    return problems + probe.stdout.splitlines()


def dev_mode_tools_bytes(image: str) -> int:
    """Size of the image layer that installs Dev Mode's tools (the RUN naming git-lfs).

    Measured: 105 MB, git and the perl it depends on being 90 of them. The images did not grow by
    it: the same change dropped torch's unit tests (86 MB), and the images have since lost PyTorch
    (bench/results/images.md: 1.83 -> 0.85 GB and 2.01 -> 1.00 GB above the base, before Dev Mode
    and now). This ceiling catches a tools layer that grows."""
    history = subprocess.run(
        ["docker", "history", "--human=false", "--no-trunc", "--format",
         "{{.Size}}\t{{.CreatedBy}}", image],
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    sizes = [
        int(size) for size, created in (line.split("\t", 1) for line in history.stdout.splitlines())
        if "git-lfs" in created and "apt-get install" in created
    ]  # fmt: skip
    assert len(sizes) == 1, f"expected one layer installing git-lfs: {history.stdout[-2000:]}"
    return sizes[0]
