"""Batch inference on Ray Data: score a CSV or Parquet file of flowers with the Space's model.

    python -m iris_app.batch INPUT OUTPUT [--columns C1,C2,C3,C4] [--errors PATH]
        [--actors N] [--batch-size N]

The four measurement columns (in cm) default to the model's feature names (sepal_length,
sepal_width, petal_length, petal_width); --columns names them otherwise, in that order. Each Ray
actor loads the model once and scores blocks of rows (`map_batches` over an actor pool). Locally
Ray starts on this machine bound to 127.0.0.1; with RAY_ADDRESS set the job runs on that cluster.
OUTPUT (.parquet or .csv) holds every input column, in input order, plus `species` and one
`probability_<species>` column per class; rows that cannot be scored (a measurement missing, not a
number, not positive) go to the errors file with their row number and the reason, and the job
goes on. Exit code 0 when every row was scored, 1 when some went to the errors file, 2 when the
input cannot be used.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from iris_app.model import IrisModel
from iris_app.settings import Settings
from iris_app.tables import (
    BatchInputError,
    check_suffix,
    errors_path,
    read_table,
    require_columns,
    score_on_ray,
)


def measurement(name: str, value: Any) -> float:
    """A length in cm, or ValueError saying what is wrong with it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{name} is missing")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is not a number: {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} is not a positive length: {value!r}")
    return number


class Scorer:
    """One Ray actor: the model, loaded once, scoring blocks of rows."""

    def __init__(self, columns: list[str]) -> None:
        settings = Settings()
        self.model = IrisModel.load(settings.model_path, settings.metadata_path)
        self.columns = columns

    def __call__(self, block: pa.Table) -> pa.Table:
        values = [block.column(c).to_pylist() for c in self.columns]
        rows, good, errors = [], [], [None] * block.num_rows
        for i, row in enumerate(zip(*values, strict=True)):
            try:
                rows.append([measurement(c, v) for c, v in zip(self.columns, row, strict=True)])
                good.append(i)
            except ValueError as exc:
                errors[i] = str(exc)
        species: list[str | None] = [None] * block.num_rows
        probabilities = {c: [None] * block.num_rows for c in self.model.classes}
        predictions = self.model.predict(np.array(rows)) if rows else []
        for i, prediction in zip(good, predictions, strict=True):
            species[i] = prediction.species
            for name, p in prediction.probabilities.items():
                probabilities[name][i] = p
        out = block.append_column("species", pa.array(species, pa.string()))
        for name, column in probabilities.items():
            out = out.append_column(f"probability_{name}", pa.array(column, pa.float64()))
        return out.append_column("error", pa.array(errors, pa.string()))


def run(args: argparse.Namespace) -> int:
    """Read, score on Ray, write; returns the exit code."""
    settings = Settings()
    columns = args.columns or list(
        IrisModel.load(settings.model_path, settings.metadata_path).features
    )
    if len(columns) != 4:
        raise BatchInputError(f"--columns names {len(columns)} columns; the model takes 4")
    check_suffix(args.output)
    table = read_table(args.input)
    require_columns(table, columns, args.input)
    return score_on_ray(
        table,
        Scorer,
        {"columns": columns},
        output=args.output,
        errors=args.errors,
        actors=args.actors,
        batch_size=args.batch_size,
        env_prefix="IRIS_",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m iris_app.batch", description=__doc__)
    parser.add_argument("input", type=Path, help="a .csv or .parquet file")
    parser.add_argument("output", type=Path, help="a .parquet or .csv file (replaced)")
    parser.add_argument(
        "--columns",
        type=lambda text: [c.strip() for c in text.split(",")],
        help="the four measurement columns, comma-separated (default: the model's feature names)",
    )
    parser.add_argument("--errors", type=Path, help="rows that failed (default: OUTPUT.errors)")
    parser.add_argument(
        "--actors", type=int, default=os.cpu_count() or 1, help="model copies (default: CPUs)"
    )
    parser.add_argument("--batch-size", type=int, default=1024, help="rows per model call")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.errors = args.errors or errors_path(args.output)
    try:
        return run(args)
    except BatchInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
