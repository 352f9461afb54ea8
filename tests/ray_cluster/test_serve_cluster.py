"""A real two-node Ray cluster on this machine, in containers, serving the Iris API on Ray Serve.

The head and the worker run the image of tests/ray_cluster/Dockerfile on a Docker network this
test creates; each node's Serve proxy is published on a loopback port, and the test's client
spreads its requests over both (as a load balancer in front of the nodes would). One test runs
the whole story in order: the API answers from replicas on both nodes; a replica's process killed
with SIGKILL costs at most the requests in flight and Serve starts a new one; a rolling update to
a new model version serves without an error. Everything is removed at the end, even on failure.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import joblib
import pytest
import yaml
from conftest import SPACES, docker_ready, free_port, need

from iris_app import data
from iris_app.train import candidates

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(420)]
IMAGE = "hf-spaces/ray-node:test"
DOCKERFILE = Path(__file__).resolve().parent / "Dockerfile"
SPACE = SPACES / "iris-gradio"
CONCURRENCY = 8  # client threads, so at most 8 requests in flight
FLOWER = {"sepal_length": 6.0, "sepal_width": 2.9, "petal_length": 4.5, "petal_width": 1.5}


def docker(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {done.stderr[-2000:]}")
    return done


@pytest.fixture(scope="module")
def image() -> str:
    """Built once; its layers are cached, so a code change rebuilds only the last ones."""
    need(docker_ready(), "no Docker engine (run ../shared/docker/engine.sh all)")
    build = subprocess.run(
        ["docker", "build", "--network", "host", "-t", IMAGE, "-f", str(DOCKERFILE), str(SPACE)],
        env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return IMAGE


@pytest.fixture(scope="module")
def model_v2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A second Iris model (logistic regression, where the Space ships an SVC) with its metadata:
    the "new model version" of the rolling update. Mounted read-only into both nodes."""
    folder = tmp_path_factory.mktemp("iris-v2")
    folder.chmod(0o755)
    iris = data.load()
    estimator = candidates()["logistic_regression"].fit(iris.x, iris.y)
    joblib.dump(estimator, folder / "model.joblib")
    meta = json.loads((SPACE / "artifacts" / "metadata.json").read_text())
    version = f"logistic_regression-cluster-{uuid.uuid4().hex[:6]}"
    meta |= {"model_version": version, "model_name": "logistic_regression"}
    (folder / "metadata.json").write_text(json.dumps(meta))
    return folder, version


@dataclass
class Cluster:
    head: str
    worker: str
    urls: list[str]  # each node's Serve proxy, published on 127.0.0.1
    names: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def cluster(image: str, model_v2: tuple[Path, str]) -> Iterator[Cluster]:
    """Head and worker on a network of their own; removed at the end whatever happened."""
    tag = uuid.uuid4().hex[:8]
    network, head, worker = f"ray-test-{tag}", f"ray-head-{tag}", f"ray-worker-{tag}"
    ports = [free_port(), free_port()]
    # Ray 2.60 authenticates every node and driver with a token: one for this cluster.
    token = ["-e", "RAY_AUTH_MODE=token", "-e", f"RAY_AUTH_TOKEN={secrets.token_hex(32)}"]
    common = ["run", "-d", "--network", network, "--shm-size=1g", "--memory=2g", *token,
              "-e", "IRIS_RATE_LIMIT=none", "-v", f"{model_v2[0]}:/models/v2:ro"]  # fmt: skip
    start = ["ray", "start", "--num-cpus=1", "--disable-usage-stats", "--block"]
    docker("network", "create", network)
    try:
        docker(*common, "--name", head, "--hostname", "ray-head",
               "-p", f"127.0.0.1:{ports[0]}:7860",
               image, *start, "--head", "--port=6379", "--include-dashboard=false")  # fmt: skip
        docker(*common, "--name", worker, "--hostname", "ray-worker",
               "-p", f"127.0.0.1:{ports[1]}:7860",
               image, *start, f"--address={head}:6379")  # fmt: skip
        began = time.monotonic()
        nodes = "import ray; ray.init(); print(sum(n['Alive'] for n in ray.nodes()))"
        while docker("exec", head, "python", "-c", nodes, check=False).stdout.strip() != "2":
            logs = docker("logs", worker, check=False).stderr[-2000:]
            assert time.monotonic() < began + 120, logs
            time.sleep(2)
        print(f"\ntwo nodes up in {time.monotonic() - began:.0f} s")
        config = yaml.safe_load((SPACE / "serve.yaml").read_text())
        # The Space's config, one replica per node at most: two replicas, one on each node.
        config["applications"][0]["deployments"][0]["max_replicas_per_node"] = 1
        docker("exec", "-i", head, "sh", "-c", "cat > /tmp/cluster.yaml", input=yaml.dump(config))
        yield Cluster(head, worker, [f"http://127.0.0.1:{p}" for p in ports], [head, worker])
    finally:
        for name in (head, worker):
            if logs := docker("exec", name, "sh", "-c", SERVE_LOGS, check=False).stdout:
                print(f"--- {name}: Serve logs (tail) ---\n{logs[-3000:]}")
            docker("rm", "-f", name, check=False)
        docker("network", "rm", network, check=False)


SERVE_LOGS = "tail -n 20 /tmp/ray/session_latest/logs/serve/*.log 2>/dev/null"
# The pids of the node's Serve replicas (the image has no procps: read /proc).
FIND_REPLICAS = (
    "import pathlib; print(*(p.parent.name for p in pathlib.Path('/proc').glob('[0-9]*/cmdline')"
    " if p.read_bytes().startswith(b'ray::ServeReplica')))"
)


def deploy(cluster: Cluster, *env: str) -> None:
    """`python -m iris_app.serve` on the head, against the cluster (RAY_ADDRESS): it returns once
    the app runs."""
    began = time.monotonic()
    flags = [x for pair in (("-e", e) for e in ("RAY_ADDRESS=auto", *env)) for x in pair]
    cmd = ["python", "-m", "iris_app.serve", "--config", "/tmp/cluster.yaml", "--replicas", "2"]
    done = docker("exec", *flags, cluster.head, *cmd, check=False, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    print(f"deployed in {time.monotonic() - began:.0f} s")


@dataclass
class Answer:
    ok: bool
    replica: str = ""  # <replica id>@<host name> (X-Serve-Replica)
    version: str = ""
    error: str = ""


class Load:
    """CONCURRENCY client threads posting /predict in turn to each node's proxy until stopped."""

    def __init__(self, urls: list[str]) -> None:
        self.urls, self.answers = urls, []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(CONCURRENCY)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, index: int) -> None:
        with httpx.Client(timeout=30) as client:
            turn = index
            while not self._stop.is_set():
                url = self.urls[turn % len(self.urls)] + "/predict"
                turn += 1
                try:
                    response = client.post(url, json=FLOWER)
                    body = response.json() if response.status_code == 200 else {}
                    answer = Answer(
                        response.status_code == 200,
                        response.headers.get("x-serve-replica", ""),
                        body.get("model_version", ""),
                        "" if response.status_code == 200 else f"{response.status_code}",
                    )
                except httpx.HTTPError as exc:
                    answer = Answer(False, error=repr(exc))
                with self._lock:
                    self.answers.append(answer)

    def wait_for(self, condition: Callable[[list[Answer]], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition(list(self.answers)):
            assert time.monotonic() < deadline, f"not reached in {timeout}s: {self.summary()}"
            time.sleep(0.5)

    def summary(self) -> str:
        answers = list(self.answers)
        failed = [a.error for a in answers if not a.ok]
        hosts = {a.replica for a in answers[-50:]}
        return f"{len(answers)} answers, {len(failed)} failed {failed[:5]}, last replicas {hosts}"


def hosts(answers: list[Answer]) -> set[str]:
    return {a.replica.rsplit("@", 1)[1] for a in answers if a.ok}


def test_replicas_on_both_nodes_survive_a_kill_and_a_rolling_update(
    cluster: Cluster, model_v2: tuple[Path, str]
) -> None:
    deploy(cluster)
    shipped = json.loads((SPACE / "artifacts" / "metadata.json").read_text())["model_version"]
    for url in cluster.urls:
        assert httpx.get(f"{url}/ready", timeout=10).json()["model_version"] == shipped

    with Load(cluster.urls) as load:
        # 1. Serve's proxies answer from replicas on both nodes.
        load.wait_for(lambda a: hosts(a) == {"ray-head", "ray-worker"} and len(a) > 100, 60)
        assert all(a.ok and a.version == shipped for a in load.answers), load.summary()

        # 2. SIGKILL the worker's replica process while requests flow.
        killed = next(a.replica for a in load.answers[::-1] if a.replica.endswith("@ray-worker"))
        pid = docker("exec", cluster.worker, "python", "-c", FIND_REPLICAS).stdout.split()
        assert len(pid) == 1, pid
        before = len(load.answers)
        docker("exec", cluster.worker, "sh", "-c", f"kill -9 {pid[0]}")
        load.wait_for(
            lambda a: any(x.replica.endswith("@ray-worker") and x.replica != killed for x in a),
            120,
        )
        during = load.answers[before:]
        failed = [a for a in during if not a.ok]
        assert len(failed) <= CONCURRENCY, load.summary()
        print(f"\nkill: {len(failed)} of {len(during)} requests failed before the new replica")

        # 3. A rolling update to a new model version serves without an error.
        _, v2 = model_v2
        before = len(load.answers)
        deploy(
            cluster,
            "IRIS_MODEL_PATH=/models/v2/model.joblib",
            "IRIS_METADATA_PATH=/models/v2/metadata.json",
        )
        load.wait_for(lambda a: len(a) > before + 50 and all(x.version == v2 for x in a[-50:]), 120)
        rollout = load.answers[before:]
        assert [a for a in rollout if not a.ok] == [], load.summary()
        assert {a.version for a in rollout} == {shipped, v2}  # both served during the rollout
        print(f"rolling update: {len(rollout)} requests, none failed")
        load.wait_for(lambda a: hosts(a[-100:]) == {"ray-head", "ray-worker"}, 60)

    for url in cluster.urls:
        assert httpx.get(f"{url}/model", timeout=10).json()["model_version"] == v2
