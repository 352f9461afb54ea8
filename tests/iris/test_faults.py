"""A broken model file stops `python app.py` at start-up with one line naming it: no traceback,
a non-zero exit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import SPACES, free_port, wait_http

from iris_app.schemas import SETOSA

pytestmark = pytest.mark.slow
SPACE = SPACES / "iris-gradio"


def start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python app.py` as the Space runs it, on loopback, until it exits (60 s at most)."""
    full = {"IRIS_HOST": "127.0.0.1", "IRIS_PORT": str(free_port()), **env}
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=SPACE,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **full},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("model.joblib", "truncate"),
        ("model.joblib", "garbage"),
        ("metadata.json", "garbage"),
    ],
)
def test_a_corrupt_artifact_is_one_line_naming_it(tmp_path: Path, name: str, damage: str) -> None:
    artifacts = tmp_path / "artifacts"
    shutil.copytree(SPACE / "artifacts", artifacts)
    broken = artifacts / name
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00garbage" * 64)
    result = start(
        {
            "IRIS_MODEL_PATH": str(artifacts / "model.joblib"),
            "IRIS_METADATA_PATH": str(artifacts / "metadata.json"),
        }
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert str(broken) in errors[0]


def test_a_corrupt_onnx_twin_is_logged_by_name_and_scikit_learn_serves(tmp_path: Path) -> None:
    """model.onnx is a faster copy of model.joblib: broken, the Space starts anyway on the joblib
    model, and its log names the file."""
    artifacts = tmp_path / "artifacts"
    shutil.copytree(SPACE / "artifacts", artifacts)
    broken = artifacts / "model.onnx"
    broken.write_bytes(broken.read_bytes()[:100])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "IRIS_HOST": "127.0.0.1",
        "IRIS_PORT": str(port),
        "IRIS_MODEL_PATH": str(artifacts / "model.joblib"),
        "IRIS_METADATA_PATH": str(artifacts / "metadata.json"),
    }
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=SPACE, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_http(f"{url}/ready", 90, proc)
        answer = httpx.post(f"{url}/predict", json=SETOSA, timeout=10)
        assert answer.status_code == 200
        assert answer.json()["species"] == "setosa"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    text = log.read_text()
    assert str(broken) in text
    assert "Traceback" not in text
