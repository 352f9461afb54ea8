"""Export the sentiment Space's fine-tuned model to the folder layout transformers.js loads.

    python scripts/export_transformersjs.py SOURCE TARGET

SOURCE is what `make sentiment-model` builds (spaces/sentiment-streamlit/model/: transformers
weights, tokenizer, model.onnx). TARGET receives config.json, tokenizer.json,
tokenizer_config.json, metrics.json, onnx/model.onnx (the server's fp32 graph, byte for byte:
transformers.js dtype 'fp32') and onnx/model_quantized.onnx (the server's int8 graph, made by
the same sentiment_app.backends.quantize_onnx: dtype 'q8', 4× smaller). Run with the Space's
folder on PYTHONPATH, as `make static-sentiment-model` does.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

COPIED = ("config.json", "tokenizer.json", "tokenizer_config.json", "metrics.json")
FP32 = Path("onnx") / "model.onnx"
QUANTIZED = Path("onnx") / "model_quantized.onnx"


def export(source: Path, target: Path) -> Path:
    """Write the transformers.js folder for `source` into `target` (replaced atomically)."""
    from sentiment_app.backends import quantize_onnx

    missing = [n for n in (*COPIED, "model.onnx") if not (source / n).is_file()]
    if missing:
        raise SystemExit(f"{source} lacks {', '.join(missing)}: run `make sentiment-model` first")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / QUANTIZED.parent).mkdir(parents=True)
    for name in COPIED:
        shutil.copy2(source / name, partial / name)
    shutil.copy2(source / "model.onnx", partial / FP32)
    quantize_onnx(source / "model.onnx", partial / QUANTIZED)  # the server's int8 path
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target / QUANTIZED


def main(argv: list[str] | None = None) -> None:
    """Command line: SOURCE TARGET."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="the fine-tuned model folder (with model.onnx)")
    parser.add_argument("target", type=Path, help="the folder to write (replaced)")
    args = parser.parse_args(argv)
    graph = export(args.source, args.target)
    print(f"{graph}: {graph.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
