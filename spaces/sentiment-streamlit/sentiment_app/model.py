"""Load a sequence classifier once and predict POSITIVE/NEGATIVE; knows nothing of HTTP or UI."""

from __future__ import annotations

import importlib.util
import json
import logging
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from sentiment_app.backends import (
    INT8_FILE,
    Logits,
    OnnxLogits,
    TorchLogits,
    exported_folder,
    onnx_graph,
    torch_installed,
)
from sentiment_app.settings import Settings

log = logging.getLogger(__name__)

POSITIVE, NEGATIVE = "POSITIVE", "NEGATIVE"
# Characters kept from each end of a huge text before tokenizing (a token is rarely > 16 chars).
CHARS_PER_TOKEN = 16


@dataclass(frozen=True)
class Prediction:
    """One text's sentiment: its label and the model's probability for it."""

    label: str
    score: float


def normalise_labels(id2label: dict[int, str]) -> tuple[int, int]:
    """Return (negative index, positive index) for any naming of a sentiment model's labels.

    Understands names containing pos/neg (POSITIVE, negative, Positive sentiment...) and the
    generic LABEL_i names (2 labels: 0 negative, 1 positive; 3 labels: 0 negative, 2 positive).
    """
    negative = positive = None
    for index, name in id2label.items():
        lowered = str(name).lower()
        if "neg" in lowered:
            negative = int(index)
        elif "pos" in lowered:
            positive = int(index)
    if negative is None or positive is None:
        generic = [re.fullmatch(r"(label_)?(\d+)", str(n).lower()) for n in id2label.values()]
        if all(generic) and len(id2label) in (2, 3):
            negative, positive = 0, len(id2label) - 1
    if negative is None or positive is None:
        raise ValueError(f"cannot tell positive from negative in the labels {id2label}")
    return negative, positive


def clip_chars(text: str, max_tokens: int) -> str:
    """Cut a very long text to its head and tail characters so tokenizing stays cheap."""
    keep = max_tokens * CHARS_PER_TOKEN
    return text if len(text) <= 2 * keep else f"{text[:keep]} {text[-keep:]}"


def head_tail(ids: list[int], budget: int, head: int) -> list[int]:
    """Keep `budget` token ids: the first `head` and the last `budget - head`."""
    if len(ids) <= budget:
        return ids
    head = min(head, budget)
    return ids[:head] + ids[len(ids) - (budget - head) :]


def special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts before and after one text (e.g. [CLS] ... [SEP])."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return full[:start], full[start + len(bare) :]
    raise ValueError("cannot locate the text between the tokenizer's special tokens")


class SentimentModel:
    """A sequence classifier with normalised labels and head+tail truncation, on any backend."""

    def __init__(
        self, logits: Logits, tokenizer: Any, config: Any, source: str, settings: Settings
    ) -> None:
        self.logits = logits
        self.tokenizer = tokenizer
        self.source = source
        self.pass_size = settings.pass_size
        self._pool = (
            ThreadPoolExecutor(settings.workers, thread_name_prefix="sentiment-pass")
            if settings.workers > 1
            else None
        )
        limits = [settings.max_tokens, getattr(config, "max_position_embeddings", 512)]
        if 0 < tokenizer.model_max_length < 100_000:
            limits.append(tokenizer.model_max_length)
        self.max_tokens = min(limits)
        self.head_tokens = min(settings.head_tokens, self.max_tokens)
        self.id2label = {int(k): str(v) for k, v in config.id2label.items()}
        self.negative, self.positive = normalise_labels(self.id2label)
        self.metrics = _read_metrics(source)
        self.prefix, self.suffix = special_tokens(tokenizer)
        # Told every call's predictions (the API's metrics); the model knows nothing of them.
        self.on_predict: Callable[[list[Prediction]], None] | None = None

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's ids with its special tokens; long texts keep their head and tail."""
        clipped = [clip_chars(t, self.max_tokens) for t in texts]
        ids = self.tokenizer(clipped, add_special_tokens=False, verbose=False)["input_ids"]
        budget = self.max_tokens - len(self.prefix) - len(self.suffix)
        head = min(self.head_tokens, budget)
        return [self.prefix + head_tail(i, budget, head) + self.suffix for i in ids]

    def encode(self, texts: Sequence[str], tensors: str = "np") -> dict[str, Any]:
        """Token ids of `texts` padded to the longest, as numpy ("np") or torch ("pt") arrays."""
        return self._pad(self.token_ids(texts), tensors)

    def _pad(self, rows: Sequence[list[int]], tensors: str = "np") -> dict[str, Any]:
        return self.tokenizer.pad({"input_ids": list(rows)}, return_tensors=tensors)

    def _forward(self, rows: Sequence[list[int]]) -> list[float]:
        """P(positive) for rows of token ids: one forward pass, the two classes renormalised."""
        pair = self.logits(self._pad(rows))[:, [self.negative, self.positive]].astype(np.float64)
        pair -= pair.max(axis=1, keepdims=True)
        odds = np.exp(pair)
        return (odds[:, 1] / odds.sum(axis=1)).tolist()

    def positive_probability(self, texts: Sequence[str]) -> list[float]:
        """P(positive) for each text, in order.

        Texts are sorted by token count and cut into passes of `pass_size`, so a short text is
        never padded to a long one; `workers` passes run at once.
        """
        if not texts:
            return []
        ids = self.token_ids(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        passes = [order[s : s + self.pass_size] for s in range(0, len(order), self.pass_size)]
        rows = [[ids[i] for i in chunk] for chunk in passes]
        if self._pool is not None and len(rows) > 1:
            outputs = list(self._pool.map(self._forward, rows))
        else:
            outputs = [self._forward(r) for r in rows]
        probs = [0.0] * len(texts)
        for chunk, out in zip(passes, outputs, strict=True):
            for i, p in zip(chunk, out, strict=True):
                probs[i] = p
        return probs

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Label every text, in order."""
        predictions = [
            Prediction(POSITIVE, round(p, 6)) if p >= 0.5 else Prediction(NEGATIVE, round(1 - p, 6))
            for p in self.positive_probability(texts)
        ]
        if self.on_predict is not None:
            self.on_predict(predictions)
        return predictions


def _read_metrics(source: str) -> dict[str, Any] | None:
    path = Path(source) / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def hub_reachable(timeout: float = 3.0) -> bool:
    """False when offline mode is on or the Hub does not answer quickly (no minute of retries)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    import httpx

    try:
        httpx.head(constants.ENDPOINT, timeout=timeout)
    except httpx.HTTPError:
        return False
    return True


class JsonTokenizer:
    """A model's tokenizer.json run by `tokenizers` alone, as the image does (no transformers):
    the calls SentimentModel makes of a transformers fast tokenizer, giving the same ids."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        self.backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.backend.no_truncation()
        self.backend.no_padding()
        path = folder / "tokenizer_config.json"
        config = json.loads(path.read_text()) if path.is_file() else {}
        self.model_max_length = int(config.get("model_max_length") or 10**30)
        pad = config.get("pad_token") or "[PAD]"
        pad = pad.get("content") if isinstance(pad, dict) else pad
        self.pad_token_id = self.backend.token_to_id(pad) or 0
        self.padding_side = config.get("padding_side", "right")

    def __call__(
        self, texts: str | Sequence[str], add_special_tokens: bool = True, verbose: bool = False
    ) -> dict[str, Any]:
        batch = [texts] if isinstance(texts, str) else list(texts)
        encoded = self.backend.encode_batch(batch, add_special_tokens=add_special_tokens)
        ids = [e.ids for e in encoded]
        return {"input_ids": ids[0] if isinstance(texts, str) else ids}

    def pad(self, features: dict[str, Any], return_tensors: str = "np") -> dict[str, Any]:
        rows = features["input_ids"]
        width = max((len(r) for r in rows), default=0)
        ids = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        left = self.padding_side == "left"
        for i, row in enumerate(rows):
            span = slice(width - len(row), width) if left else slice(len(row))
            ids[i, span], mask[i, span] = row, 1
        out = {"input_ids": ids, "attention_mask": mask}
        if return_tensors == "pt":
            import torch

            return {k: torch.from_numpy(v) for k, v in out.items()}
        return out


def transformers_installed() -> bool:
    """True where transformers can be imported (development); the Docker image has none."""
    return importlib.util.find_spec("transformers") is not None


def _load_one(name: str, settings: Settings, local_only: bool) -> SentimentModel:
    exported = exported_folder(settings.cache_dir, name)
    path = str(exported) if (exported / "config.json").is_file() else name
    local_only = local_only or path != name
    if transformers_installed():
        from transformers import AutoConfig, AutoTokenizer
        from transformers.utils import cached_file

        try:
            tokenizer: Any = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
        except Exception as exc:  # tokenizers raises its own Exception on a broken file
            if not (Path(path) / "tokenizer.json").is_file():
                raise
            raise ValueError(f"{Path(path) / 'tokenizer.json'} does not load: {exc}") from exc
        config: Any = AutoConfig.from_pretrained(path, local_files_only=local_only)
        folder = Path(cached_file(path, "config.json", local_files_only=local_only)).parent
    else:  # the image: a local folder (model/, or SENTIMENT_MODEL exported at build time)
        folder = Path(path)
        if not (folder / "tokenizer.json").is_file() or not (folder / "config.json").is_file():
            raise ValueError(
                f"{name} is not a model folder with tokenizer.json, and this installation has no "
                "transformers to fetch one (the Docker image exports SENTIMENT_MODEL at build time)"
            )
        try:
            tokenizer = JsonTokenizer(folder)
        except Exception as exc:  # tokenizers raises its own Exception on a broken file
            raise ValueError(f"{folder / 'tokenizer.json'} does not load: {exc}") from exc
        config = SimpleNamespace(**json.loads((folder / "config.json").read_text()))

    def load_torch() -> Any:
        if not torch_installed():
            raise ValueError(
                f"{name} ships no ONNX graph and PyTorch, which would export or run it, is not "
                "installed (the Docker image exports SENTIMENT_MODEL at build time instead)"
            )
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(path, local_files_only=local_only)

    logits: Logits | None = None
    if settings.backend == "onnx":
        try:
            graph = onnx_graph(name, folder, load_torch, settings.cache_dir, settings.quantize)
            kind = "onnx int8" if graph.name == INT8_FILE else "onnx"
            logits = OnnxLogits(graph, settings.threads, kind)
        except Exception as exc:  # a model the exporter cannot trace, a read-only cache...
            shipped = folder / "model.onnx"
            if shipped.is_file():  # a graph that is there but does not load is broken: say so
                raise ValueError(f"{shipped} does not load: {exc}") from exc
            if not torch_installed():
                raise ValueError(f"no ONNX graph for {name}: {exc}") from exc
            log.warning("no ONNX graph for %s, running it on PyTorch: %s", name, exc)
    if logits is None:
        logits = TorchLogits(load_torch(), settings.quantize)
    return SentimentModel(logits, tokenizer, config, name, settings)


NO_TORCH = (
    "SENTIMENT_BACKEND=torch, but PyTorch is not installed (the Docker image runs ONNX Runtime "
    "only): unset SENTIMENT_BACKEND, or install requirements-export.txt outside the image"
)


def unavailable(settings: Settings) -> str | None:
    """Why no model can load, in one line saying what to do, or None when one can.

    Cheap, for start-up: a local folder with a config.json, a Hub model in the local cache, or a
    reachable Hub (asked only when nothing local exists) is enough.
    """
    from huggingface_hub import try_to_load_from_cache

    if settings.backend == "torch" and not torch_installed():
        return NO_TORCH
    exported = exported_folder(settings.cache_dir, settings.model)
    local = [Path(settings.model), settings.fallback_model, exported]
    if any((folder / "config.json").is_file() for folder in local):
        return None
    if Path(settings.model).is_absolute() or settings.model.startswith("."):
        where = f"SENTIMENT_MODEL={settings.model} is not a model folder"
    elif isinstance(try_to_load_from_cache(settings.model, "config.json"), str) or hub_reachable():
        return None
    else:
        where = f"SENTIMENT_MODEL={settings.model} is not in the local cache and the Hub is offline"
    return (
        f"no sentiment model to load: {where}, and SENTIMENT_FALLBACK_MODEL="
        f"{settings.fallback_model} holds none. Build it with `make sentiment-model` (see the "
        "README's Training section), or set SENTIMENT_MODEL to a model folder or a Hub id."
    )


def load_model(settings: Settings) -> SentimentModel:
    """Load `settings.model` (Hub id or folder); without the Hub fall back to the local folder.

    A Hub model exported at image build time (`exported_folder`) loads from disk, no Hub call.
    """
    if settings.backend == "torch":
        if not torch_installed():
            raise RuntimeError(NO_TORCH)
        import torch

        torch.set_num_threads(settings.threads)
    candidates = [settings.model]
    fallback = settings.fallback_model
    if fallback.is_dir() and str(fallback) != settings.model:
        candidates.append(str(fallback))
    errors = []
    online = None
    for name in candidates:
        exported = (exported_folder(settings.cache_dir, name) / "config.json").is_file()
        if online is None and not Path(name).exists() and not exported:
            online = hub_reachable()
            if not online:
                log.warning("Hugging Face Hub unreachable: %s only from the local cache", name)
        try:
            model = _load_one(name, settings, local_only=not online)
        except (OSError, ValueError) as exc:
            log.warning("could not load sentiment model %s: %s", name, str(exc).splitlines()[0])
            errors.append(f"{name}: {' '.join(str(exc).split())}")
            continue
        log.info("sentiment model in use: %s (%s)", name, model.logits.name)
        return model
    raise RuntimeError("no sentiment model could be loaded: " + "; ".join(errors))
