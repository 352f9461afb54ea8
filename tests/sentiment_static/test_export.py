"""scripts/export_transformersjs.py: the folder transformers.js loads, from the server's graphs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SPACES
from static_pages import need_built

from scripts.export_transformersjs import export
from sentiment_app.backends import quantize_onnx

SERVER_MODEL = SPACES / "sentiment-streamlit" / "model"


@pytest.mark.slow
def test_export_writes_the_transformers_js_layout_from_the_servers_graph(tmp_path: Path) -> None:
    need_built(SERVER_MODEL, "model.onnx", "tokenizer.json")
    target = tmp_path / "model"
    export(SERVER_MODEL, target)
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == [
        "config.json",
        "metrics.json",
        "onnx/model.onnx",
        "onnx/model_quantized.onnx",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert (target / "onnx/model.onnx").read_bytes() == (SERVER_MODEL / "model.onnx").read_bytes()
    server_int8 = quantize_onnx(SERVER_MODEL / "model.onnx", tmp_path / "server.int8.onnx")
    assert (target / "onnx/model_quantized.onnx").read_bytes() == server_int8.read_bytes()
    assert json.loads((target / "config.json").read_text())["id2label"] == {
        "0": "NEGATIVE",
        "1": "POSITIVE",
    }
    export(SERVER_MODEL, target)  # again: the folder is replaced, never mixed
    assert not (tmp_path / "model.partial").exists()


def test_export_refuses_a_folder_without_a_graph(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SystemExit, match=r"lacks .*model\.onnx"):
        export(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
