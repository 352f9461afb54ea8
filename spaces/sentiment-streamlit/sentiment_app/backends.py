"""What runs the forward pass: ONNX Runtime (default) or PyTorch, fp32 or int8.

Both take padded numpy inputs and return numpy logits, so the rest of the app never sees which
one is in use. An ONNX graph is exported once from the transformers model (`python -m
sentiment_app.backends DIR` writes DIR/model.onnx) and otherwise cached under `cache_dir`.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)
ONNX_FILE = "model.onnx"
INPUTS = ("input_ids", "attention_mask")


class Logits(Protocol):
    """A forward pass: padded `input_ids` and `attention_mask` in, one row of logits per text."""

    name: str

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray: ...


class TorchLogits:
    """A transformers model run by PyTorch (optionally int8 dynamic-quantized Linear layers)."""

    def __init__(self, model: Any, quantize: bool = False) -> None:
        self.model = _quantize_torch(model.eval()) if quantize else model.eval()
        self.name = "torch int8" if quantize else "torch"

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
            return self.model(**tensors).logits.float().numpy()


class OnnxLogits:
    """An exported graph run by ONNX Runtime: no Python between the layers, the GIL released."""

    def __init__(self, path: Path, threads: int, name: str = "onnx") -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.path = path
        self.name = name

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        feed = {name: inputs[name].astype(np.int64, copy=False) for name in self.input_names}
        return self.session.run(None, feed)[0]


def _quantize_torch(model: Any) -> Any:
    """int8 dynamic quantization of every Linear layer (weights int8, activations on the fly)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def export_onnx(model: Any, path: Path) -> Path:
    """Write `model` (a transformers sequence classifier) as an ONNX graph with dynamic shapes."""
    import torch

    example = {name: torch.ones((2, 8), dtype=torch.long) for name in INPUTS}
    dynamic = {name: {0: "batch", 1: "tokens"} for name in INPUTS} | {"logits": {0: "batch"}}
    partial = path.with_name(path.name + ".partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            tuple(example[name] for name in INPUTS),
            str(partial),
            input_names=list(INPUTS),
            output_names=["logits"],
            dynamic_axes=dynamic,
            opset_version=17,
            dynamo=False,
        )
    partial.replace(path)
    return path


def quantize_onnx(source: Path, path: Path) -> Path:
    """Write an int8 dynamic-quantized copy of the ONNX graph `source`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = path.with_name(path.name + ".partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    quantize_dynamic(source, partial, weight_type=QuantType.QInt8)
    partial.replace(path)
    return path


def onnx_graph(
    source: str, folder: Path, load_torch: Callable[[], Any], cache_dir: Path, quantize: bool
) -> Path:
    """The model's ONNX graph: `folder/model.onnx` if shipped, else exported once into the cache
    (and its int8 copy, made once, when `quantize`).

    `folder` is where transformers found the model (a local directory or a Hub snapshot), so a
    new Hub revision gets its own export.
    """
    key = hashlib.sha1(f"{source}\n{folder.resolve()}".encode()).hexdigest()[:12]
    cache = cache_dir / key
    fp32 = folder / ONNX_FILE
    if not fp32.is_file():
        fp32 = cache / ONNX_FILE
        if not fp32.is_file():
            log.info("exporting %s to ONNX once: %s", source, fp32)
            export_onnx(load_torch(), fp32)
    if not quantize:
        return fp32
    int8 = cache / "model.int8.onnx"
    if not int8.is_file():
        log.info("quantizing %s to int8 once: %s", source, int8)
        quantize_onnx(fp32, int8)
    return int8


def main(argv: list[str] | None = None) -> None:
    """`python -m sentiment_app.backends DIR`: export DIR's model to DIR/model.onnx."""
    from transformers import AutoModelForSequenceClassification

    folder = Path((argv or sys.argv[1:] or ["model"])[0])
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    print(export_onnx(model, folder / ONNX_FILE))


if __name__ == "__main__":
    main()
