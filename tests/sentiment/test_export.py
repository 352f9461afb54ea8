"""The Docker image's way of running a Hub model without PyTorch: exported to ONNX at build time
(`python -m sentiment_app.backends --hub`), loaded at run time from the exported folder by a
process that cannot import torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sentiment_app.backends import ONNX_FILE, export_hub_model, exported_folder
from sentiment_app.settings import HUB_DEFAULT

SPACE = Path(__file__).resolve().parents[2] / "spaces" / "sentiment-streamlit"
TEXTS = ["A wonderful, moving film.", "Dull, ugly and far too long.", "It was fine, I guess."]
# Runs before anything else in a subprocess: `import torch` and `import transformers` raise, as in
# the image.
NO_TORCH = "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None; "


def run_without_torch(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH + code],
        cwd=SPACE,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def tiny_hub_model(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small DistilBERT classifier (the default Hub model's architecture), random weights,
    saved the way a Hub repo is: weights and tokenizer, no ONNX graph."""
    import torch
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForSequenceClassification

    folder = tmp_path_factory.mktemp("hub") / "owner" / "tiny-distilbert"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    config = DistilBertConfig(
        vocab_size=tokenizer.vocab_size,
        n_layers=2,
        dim=64,
        hidden_dim=128,
        n_heads=2,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
    )
    torch.manual_seed(0)
    DistilBertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_exported_model_runs_without_torch_and_agrees_with_pytorch(
    tiny_hub_model: Path, tmp_path: Path
) -> None:
    from sentiment_app.model import load_model
    from sentiment_app.settings import Settings

    cache = tmp_path / "cache"
    name = str(tiny_hub_model)
    folder = export_hub_model(name, cache)
    assert folder == exported_folder(cache, name)
    assert {"config.json", "tokenizer.json", ONNX_FILE} <= {p.name for p in folder.iterdir()}
    assert not list(folder.glob("*.safetensors")), "the export carries no PyTorch weights"

    eager = load_model(Settings(model=name, backend="torch")).positive_probability(TEXTS)
    code = f"""
import json
from sentiment_app.model import load_model
from sentiment_app.settings import Settings
model = load_model(Settings(model={name!r}, cache_dir={str(cache)!r}))
print(json.dumps([str(model.logits.path), model.source, model.logits.name,
                  model.positive_probability({TEXTS!r}), "torch" in sys.modules and
                  sys.modules["torch"] is not None]))
"""
    run = run_without_torch(code)
    assert run.returncode == 0, run.stderr[-3000:]
    path, source, backend, probs, torch_loaded = json.loads(run.stdout.splitlines()[-1])
    assert (path, source, backend) == (str(folder / ONNX_FILE), name, "onnx")
    assert probs == pytest.approx(eager, abs=1e-5)
    assert not torch_loaded


def test_a_model_with_no_graph_is_refused_without_torch_and_the_fallback_serves(
    tiny_hub_model: Path, tmp_path: Path
) -> None:
    """Without PyTorch nothing can be exported at start-up: the packaged model/ is used, and the
    log says why the named model was not."""
    code = f"""
from sentiment_app.model import load_model
from sentiment_app.settings import Settings
print(load_model(Settings(model={str(tiny_hub_model)!r}, cache_dir={str(tmp_path)!r})).source)
"""
    run = run_without_torch(code)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().endswith("/model")
    assert "ships no ONNX graph and PyTorch, which would export or run it, is not" in run.stderr
    assert not list(tmp_path.rglob("*.onnx"))


def test_torch_backend_without_torch_stops_with_one_line() -> None:
    code = (
        "import runpy; sys.argv = ['sentiment_app', 'api', '--port', '1']; "
        "runpy.run_module('sentiment_app', run_name='__main__')"
    )
    run = run_without_torch(code, {"SENTIMENT_BACKEND": "torch"})
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "error: SENTIMENT_BACKEND=torch, but PyTorch is not installed (the Docker image runs ONNX "
        "Runtime only): unset SENTIMENT_BACKEND, or install requirements-export.txt outside the "
        "image"
    )


def test_the_image_build_step_exports_nothing_when_the_hub_is_unreachable(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "sentiment_app.backends", "--hub", "--out", str(tmp_path)],
        cwd=SPACE,
        env={**os.environ, "SENTIMENT_MODEL": HUB_DEFAULT, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"the Hub is unreachable, SENTIMENT_MODEL={HUB_DEFAULT} is not exported" in run.stderr
    assert run.stdout.strip() == "nothing exported"
    assert list(tmp_path.iterdir()) == [tmp_path / "exported"]
    assert list((tmp_path / "exported").iterdir()) == []


def test_the_image_tokenizer_gives_the_ids_of_transformers(model_dir: Path) -> None:
    """JsonTokenizer (tokenizers alone, as in the image) against the transformers fast tokenizer:
    same ids, same special tokens, same padding, same window."""
    from transformers import AutoTokenizer

    from sentiment_app.model import JsonTokenizer

    ours, theirs = JsonTokenizer(model_dir), AutoTokenizer.from_pretrained(model_dir)
    texts = [*TEXTS, "", "  ", "Ünïcödé, émojis 🎬 and CAPITALS!", "word " * 700]
    assert (
        ours(texts, add_special_tokens=False)["input_ids"]
        == theirs(texts, add_special_tokens=False, verbose=False)["input_ids"]
    )
    assert ours("a")["input_ids"] == theirs("a")["input_ids"]
    assert ours.model_max_length == theirs.model_max_length
    rows = ours(texts)["input_ids"]
    padded = ours.pad({"input_ids": rows})
    expected = theirs.pad({"input_ids": rows}, return_tensors="np")
    for key in ("input_ids", "attention_mask"):
        assert (padded[key] == expected[key]).all(), key
