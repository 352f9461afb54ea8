"""`make images`: every Docker Space's image tagged with the git commit and pushed to a real
registry (Debian's docker-registry, started here on loopback with its storage in a temp folder),
then pulled back by digest and run from the registry, not from the local build."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import (
    REPO,
    SPACE_IMAGES,
    docker_ready,
    free_port,
    image_build_args,
    need,
    serve,
    wait_http,
)

NAMESPACE = "hf-spaces"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def make_images(*args: str, cwd: Path = REPO, timeout: float = 3600) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "images", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_make_images_needs_a_registry() -> None:
    run = make_images("REGISTRY=")
    assert run.returncode == 2
    assert "error: set REGISTRY=host:port/namespace" in run.stderr


def clone_at_head(tmp_path: Path) -> tuple[Path, str]:
    """A clean clone of this repository (with the working tree's images.mk) and its commit."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    shutil.copy(REPO / "mk" / "images.mk", clone / "mk" / "images.mk")  # the version under test
    commit = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=clone, capture_output=True, text=True
    ).stdout.strip()
    return clone, commit


def test_make_images_refuses_a_space_with_uncommitted_changes(tmp_path: Path) -> None:
    """In a clone with an untracked file in a Space, nothing is built: the image would not be
    the commit its tag names."""
    clone, _ = clone_at_head(tmp_path)
    (clone / "spaces" / "rag-docker" / "notes.txt").write_text("not committed\n")
    run = make_images("REGISTRY=127.0.0.1:9/never", cwd=clone, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "error: spaces/rag-docker has uncommitted changes" in run.stderr
    assert "?? spaces/rag-docker/notes.txt" in run.stderr
    assert "building" not in run.stdout


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A registry on 127.0.0.1 and a free port, its storage in a temp folder; `host:port`."""
    need(shutil.which("docker-registry") is not None, "no docker-registry (make debs)")
    need(docker_ready(), "no Docker engine (run ../shared/docker/engine.sh all)")
    folder = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {folder / 'storage'}}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
    )
    cmd = ["docker-registry", "serve", str(config)]
    with serve(cmd, cwd=folder, ready_url=f"http://127.0.0.1:{port}/v2/", timeout=30):
        yield f"127.0.0.1:{port}"


def docker(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def push(registry: str, wheel_server: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    """`make images` into `registry` with the tests' build arguments (so: their layer cache)."""
    build_args = " ".join(image_build_args(wheel_server))
    where = f"REGISTRY={registry}/{NAMESPACE}"
    return make_images(where, "ALLOW_DIRTY=1", f"IMAGE_BUILD_ARGS={build_args}", timeout=timeout)


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)


@pytest.fixture(scope="module")
def pushed(
    registry: str, wheel_server: str, space_image: Callable[[str], str]
) -> Iterator[dict[str, tuple[str, str, str]]]:
    """`make images` into the registry: {space: (repository, tag, digest)}. The images the other
    Docker tests built come back from the layer cache."""
    for space in SPACE_IMAGES:
        space_image(space)
    before = git("rev-parse", "HEAD").stdout.strip()
    run = push(registry, wheel_server)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    print(run.stdout)
    found = re.findall(r"^pushed (\S+) (\S+):(\S+)@(sha256:[0-9a-f]{64})$", run.stdout, re.M)
    assert sorted(space for space, *_ in found) == sorted(SPACE_IMAGES)
    for space, repository, tag, _ in found:
        assert repository == f"{registry}/{NAMESPACE}/{space}"
        # The commit make saw (HEAD, or a later one: others commit to this tree), maybe marked.
        assert re.fullmatch(r"[0-9a-f]{12}(-dirty-[0-9a-f]{8})?", tag), tag
        commit = tag.split("-dirty-")[0]
        assert git("merge-base", "--is-ancestor", before, commit).returncode == 0, (before, tag)
    yield {space: (repository, tag, digest) for space, repository, tag, digest in found}
    for _, repository, tag, digest in found:  # the images stay in the test's build cache only
        docker("rmi", f"{repository}:{tag}", f"{repository}@{digest}")


@pytest.mark.docker
@pytest.mark.slow
def test_the_registry_holds_every_layer_of_each_image(registry: str, pushed: dict) -> None:
    """The manifest the tag names is the digest printed; it names the local build's config (its
    image id) and each of its layers, every one of which the registry serves."""
    for space, (repository, tag, digest) in pushed.items():
        url = f"http://{registry}/v2/{NAMESPACE}/{space}"
        got = httpx.get(f"{url}/manifests/{tag}", headers={"Accept": MANIFEST})
        assert got.status_code == 200
        assert got.headers["Docker-Content-Digest"] == digest
        manifest = got.json()
        label = '{{index .Config.Labels "org.opencontainers.image.revision"}}'
        fmt = "{{.Id}} {{len .RootFS.Layers}} " + label
        local = docker("image", "inspect", "-f", fmt, f"{repository}:{tag}").stdout.split()
        assert local == [manifest["config"]["digest"], str(len(manifest["layers"])), tag]
        for layer in manifest["layers"]:
            blob = httpx.head(f"{url}/blobs/{layer['digest']}")
            assert blob.status_code == 200
            assert int(blob.headers["Content-Length"]) == layer["size"]


def answers(space: str, url: str) -> None:
    """One real answer: a prediction, or a hybrid search."""
    if space == "sentiment-streamlit":
        text = {"text": "A wonderful, moving film."}
        assert httpx.post(f"{url}/sentiment", json=text, timeout=60).json()["label"] == "POSITIVE"
    else:
        query = {"query": "add_start_index", "top_k": 1}
        hits = httpx.post(f"{url}/search", json=query, timeout=60).json()["results"]
        assert hits[0]["source"] == "chunking-for-rag.txt"


@pytest.mark.docker
@pytest.mark.slow
def test_pulled_by_digest_and_run_from_the_registry(pushed: dict) -> None:
    """The local tags go; each image comes back from the registry by digest and answers."""
    for space, (repository, tag, digest) in pushed.items():
        by_digest = f"{repository}@{digest}"
        assert docker("rmi", f"{repository}:{tag}").returncode == 0
        assert docker("image", "inspect", by_digest).returncode != 0  # not here any more
        pull = docker("pull", by_digest)
        assert pull.returncode == 0, pull.stderr
        assert f"Digest: {digest}" in pull.stdout
        port = free_port()
        command = ["python", "-m", "sentiment_app", "api"] if space == "sentiment-streamlit" else []
        publish = ["-e", f"PORT={port}", "-p", f"127.0.0.1:{port}:{port}"]
        cid = docker("run", "-d", *publish, by_digest, *command).stdout.strip()
        try:
            assert docker("inspect", "-f", "{{.Config.Image}}", cid).stdout.strip() == by_digest
            wait_http(f"http://127.0.0.1:{port}/ready", timeout=180)
            answers(space, f"http://127.0.0.1:{port}")
        finally:
            docker("rm", "-f", cid)


@pytest.mark.docker
@pytest.mark.slow
def test_a_tag_in_the_registry_is_never_pushed_over(registry: str, tmp_path: Path) -> None:
    """Whatever the registry holds under a Space's commit tag stays: `make images` on a clean
    clone of that commit builds nothing and pushes nothing for it (here a stand-in image holds
    the tag)."""
    clone, commit = clone_at_head(tmp_path)
    ref = f"{registry}/{NAMESPACE}/rag-docker:{commit}"
    assert docker("tag", "debian:12-slim", ref).returncode == 0
    assert docker("push", ref).returncode == 0
    digest = docker("image", "inspect", "-f", "{{index .RepoDigests 0}}", ref).stdout.split("@")[1]
    try:
        where = f"REGISTRY={registry}/{NAMESPACE}"
        run = make_images(where, "IMAGE_SPACES=rag-docker", cwd=clone, timeout=300)
    finally:
        docker("rmi", ref)
    assert run.returncode == 0, run.stderr
    assert f"kept rag-docker {ref}: the tag is in the registry already" in run.stdout
    assert "building" not in run.stdout
    url = f"http://{registry}/v2/{NAMESPACE}/rag-docker/manifests/{commit}"
    now = httpx.head(url, headers={"Accept": MANIFEST}).headers["Docker-Content-Digest"]
    assert now.strip() == digest.strip()
