"""Batch inference on Ray Data: score a CSV or Parquet file of texts with the Space's own model.

    python -m sentiment_app.batch INPUT OUTPUT [--text-column text] [--errors PATH]
        [--actors N] [--batch-size N]

Each Ray actor loads the model once (`load_model`, the same settings as the Space) and scores
blocks of rows (`map_batches` over an actor pool). Locally Ray starts on this machine bound to
127.0.0.1; with RAY_ADDRESS set the job runs on that cluster. OUTPUT (.parquet or .csv) holds every
input column, in input order, plus `label` and `score`; rows that cannot be scored (no text, or a
failure of the model) go to the errors file with their row number and the reason, and the job
goes on. Exit code 0 when every row was scored, 1 when some went to the errors file, 2 when the
input cannot be used.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa

from sentiment_app.model import load_model
from sentiment_app.settings import Settings
from sentiment_app.tables import (
    BatchInputError,
    check_suffix,
    errors_path,
    read_table,
    require_columns,
    score_on_ray,
)

log = logging.getLogger(__name__)


class Scorer:
    """One Ray actor: the model, loaded once, scoring blocks of rows."""

    def __init__(self, text_column: str) -> None:
        # One pass at a time in each actor: the actor pool is the parallelism (actors = cores).
        self.model = load_model(Settings(workers=1))
        self.text_column = text_column

    def __call__(self, block: pa.Table) -> pa.Table:
        texts = block.column(self.text_column).to_pylist()
        labels: list[str | None] = [None] * len(texts)
        scores: list[float | None] = [None] * len(texts)
        errors: list[str | None] = [None] * len(texts)
        todo = []
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                errors[i] = f"no text in column {self.text_column!r}"
            else:
                todo.append(i)
        for i, prediction in self._predict(texts, todo):
            if isinstance(prediction, str):
                errors[i] = prediction
            else:
                labels[i], scores[i] = prediction.label, prediction.score
        return (
            block.append_column("label", pa.array(labels, pa.string()))
            .append_column("score", pa.array(scores, pa.float64()))
            .append_column("error", pa.array(errors, pa.string()))
        )

    def _predict(self, texts: list[Any], todo: list[int]) -> list[tuple[int, Any]]:
        """Predictions for the rows in `todo`; one by one if the block fails, so that one bad
        row costs only itself."""
        try:
            return list(zip(todo, self.model.predict([texts[i] for i in todo]), strict=True))
        except Exception:  # any model failure: retry row by row
            found = []
            for i in todo:
                try:
                    found.append((i, self.model.predict([texts[i]])[0]))
                except Exception as exc:  # recorded in the errors file
                    found.append((i, f"the model failed: {exc}"))
            return found


def run(args: argparse.Namespace) -> int:
    """Read, score on Ray, write; returns the exit code."""
    check_suffix(args.output)
    table = read_table(args.input, text_columns=(args.text_column,))
    require_columns(table, [args.text_column], args.input)
    return score_on_ray(
        table,
        Scorer,
        {"text_column": args.text_column},
        output=args.output,
        errors=args.errors,
        actors=args.actors,
        batch_size=args.batch_size,
        env_prefix="SENTIMENT_",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sentiment_app.batch", description=__doc__)
    parser.add_argument("input", type=Path, help="a .csv or .parquet file")
    parser.add_argument("output", type=Path, help="a .parquet or .csv file (replaced)")
    parser.add_argument("--text-column", default="text", help="the column to score")
    parser.add_argument("--errors", type=Path, help="rows that failed (default: OUTPUT.errors)")
    parser.add_argument(
        "--actors", type=int, default=os.cpu_count() or 1, help="model copies (default: CPUs)"
    )
    parser.add_argument("--batch-size", type=int, default=256, help="rows per model call")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    args.errors = args.errors or errors_path(args.output)
    try:
        return run(args)
    except BatchInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
