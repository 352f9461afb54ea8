"""Sentence embeddings on ONNX Runtime: the Space embeds without PyTorch.

The embedding model (the packaged all-MiniLM-L6-v2, or RAG_EMBEDDING_MODEL) is exported once to
ONNX, its transformer only, into `~/.cache/rag_app/onnx/<owner>--<name>/`: in the Docker image by
a build stage that has PyTorch (`python -m rag_app.embeddings`), which the final image does not
inherit; in development on first use (the .venv has PyTorch). `OnnxEmbeddings` then computes what
sentence-transformers computes: the tokenizer with truncation at the model's `max_seq_length`,
the token embeddings, their mean over the attention mask, L2 normalisation. The vectors match
PyTorch's to 1e-5 cosine (tests/rag/test_embeddings.py), so an index built either way serves.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:
    from rag_app.settings import Settings

ONNX_ROOT = Path.home() / ".cache" / "rag_app" / "onnx"
ONNX_FILE = "model.onnx"
META_FILE = "embedding.json"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class EmbeddingLoadError(RuntimeError):
    """No ONNX export of the embedding model, and no PyTorch to make one."""


def torch_installed() -> bool:
    """True where PyTorch can be imported (development); the Docker image has none."""
    return importlib.util.find_spec("torch") is not None


def onnx_folder(name: str, root: Path | None = None) -> Path:
    """Where the ONNX export of the embedding model called `name` lives."""
    return (root or ONNX_ROOT) / name.replace("/", "--")


class OnnxEmbeddings(Embeddings):
    """A sentence-transformers model (mean pooling, normalised) run by ONNX Runtime."""

    def __init__(self, folder: Path, threads: int = 1, batch_size: int = 32) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = json.loads((folder / META_FILE).read_text())
        self.name, self.dim = meta["model"], int(meta["dim"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()  # padded here, to the longest text of each batch
        self.tokenizer.enable_truncation(int(meta["max_seq_length"]))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.batch_size = batch_size
        self.folder = folder

    def _batch(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encoded)
        arrays = {name: np.zeros((len(encoded), width), dtype=np.int64) for name in INPUTS}
        for row, e in enumerate(encoded):
            n = len(e.ids)
            arrays["input_ids"][row, :n] = e.ids
            arrays["attention_mask"][row, :n] = e.attention_mask
            arrays["token_type_ids"][row, :n] = e.type_ids
        tokens = self.session.run(None, {name: arrays[name] for name in self.inputs})[0]
        mask = arrays["attention_mask"][..., None].astype(np.float32)
        mean = (tokens * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        return mean / np.clip(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12, None)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Normalised embeddings of `texts`, one row each, in order (float32)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Texts of similar length share a batch (less padding), as sentence-transformers does.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._batch([texts[i] for i in chunk])
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()


def export(model: str, name: str, folder: Path) -> Path:
    """Export a sentence-transformers model (a path or Hub id) to `folder` (needs PyTorch)."""
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(model, device="cpu")
    pooling = getattr(st[1], "pooling_mode", None) if len(st) > 1 else None
    if pooling != "mean":
        raise ValueError(f"{name}: pooling '{pooling}', only mean pooling is supported")
    transformer = st[0].auto_model.eval()
    names = [n for n in INPUTS if n in st.tokenizer.model_input_names]

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: Any) -> Any:
            return self.transformer(**dict(zip(names, inputs, strict=True))).last_hidden_state

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    st.tokenizer.save_pretrained(partial)
    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in names)
    dynamic = {n: {0: "batch", 1: "tokens"} for n in names} | {"tokens": {0: "batch", 1: "tokens"}}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TokenEmbeddings(),
            example,
            str(partial / ONNX_FILE),
            input_names=names,
            output_names=["tokens"],
            dynamic_axes=dynamic,
            opset_version=17,
            dynamo=False,
        )
    meta = {
        "model": name,
        "dim": st.get_embedding_dimension(),
        "max_seq_length": st.max_seq_length,
        "pooling": "mean",
        "normalize": True,
    }
    (partial / META_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    partial.replace(folder)
    return folder


def load_embeddings(settings: Settings, root: Path | None = None) -> OnnxEmbeddings:
    """The Space's embeddings: the ONNX export of its model, made once here if PyTorch is."""
    folder = onnx_folder(settings.embedding_name, root)
    if not (folder / META_FILE).is_file():
        if not torch_installed():
            raise EmbeddingLoadError(
                f"no ONNX export of the embedding model {settings.embedding_name} at {folder}, "
                "and PyTorch, which would make one, is not installed (the Docker image makes it "
                "at build time): run `python -m rag_app.embeddings` where PyTorch is"
            )
        print(f"exporting {settings.embedding_name} to ONNX once: {folder}", file=sys.stderr)
        export(settings.embedding_path, settings.embedding_name, folder)
    return OnnxEmbeddings(folder, settings.torch_threads)


def torch_embeddings(model: str, threads: int | None = None) -> Embeddings:
    """The same model on PyTorch through sentence-transformers (the reference; development only)."""
    from langchain_huggingface import HuggingFaceEmbeddings

    if threads:
        import torch

        torch.set_num_threads(threads)
    return HuggingFaceEmbeddings(
        model_name=model,
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True, "batch_size": 32},
    )


def main() -> None:
    """`python -m rag_app.embeddings [ROOT]`: export the embedding model (image build step)."""
    from rag_app.settings import get_settings

    settings = get_settings()
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    folder = onnx_folder(settings.embedding_name, root)
    print(export(settings.embedding_path, settings.embedding_name, folder))


if __name__ == "__main__":
    main()
