"""A broken model file stops `python -m sentiment_app api` at start-up with one line naming it:
no traceback, a non-zero exit, before anything listens."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port
from sentiment.conftest import SPACE

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("name", "damage"),
    [("model.onnx", "truncate"), ("model.onnx", "garbage"), ("tokenizer.json", "garbage")],
)
def test_a_corrupt_model_file_is_one_line_naming_it(
    model_dir: Path, tmp_path: Path, name: str, damage: str
) -> None:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    broken = copy / name
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00garbage" * 64)
    env = {
        **os.environ,
        "SENTIMENT_MODEL": str(copy),
        "SENTIMENT_FALLBACK_MODEL": str(copy),
        "SENTIMENT_CACHE_DIR": str(tmp_path / "cache"),
    }
    port = str(free_port())
    result = subprocess.run(
        [sys.executable, "-m", "sentiment_app", "api", "--host", "127.0.0.1", "--port", port],
        cwd=SPACE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    assert str(broken) in errors[0]
