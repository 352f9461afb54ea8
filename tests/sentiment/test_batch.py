"""`python -m sentiment_app.batch`: the Space's model on Ray Data, for real, locally."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import REPO, SPACES

SPACE = SPACES / "sentiment-streamlit"
SENTENCES = REPO / "tests" / "sentiment_static" / "sentences.txt"  # the project's own sentences


def batch(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sentiment_app.batch", *map(str, args)],
        cwd=SPACE,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def reviews() -> pa.Table:
    """The project's sentences (over 200), then a blank text, a missing one and a number."""
    lines = SENTENCES.read_text().splitlines()
    texts: list[str | None] = [t for t in lines if t.strip() and not t.startswith("#")]
    texts += ["   ", None, "12345"]
    return pa.table({"id": list(range(len(texts))), "review": texts, "lang": ["en"] * len(texts)})


def test_reviews_are_scored_in_order_like_the_model_and_blank_ones_are_reported(
    reviews: pa.Table, sentiment_model, tmp_path: Path
) -> None:
    source, output = tmp_path / "reviews.parquet", tmp_path / "scored.csv"
    pq.write_table(reviews, source)
    done = batch(source, output, "--text-column", "review", "--actors", "2", "--batch-size", "16")
    assert done.returncode == 1, done.stderr[-3000:]  # 1: some rows went to the errors file

    scored = pacsv.read_csv(output, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    assert scored.column_names == ["id", "review", "lang", "label", "score"]
    texts = reviews.column("review").to_pylist()
    kept = [i for i, t in enumerate(texts) if t and t.strip()]
    assert scored.column("id").to_pylist() == kept  # every scoreable row, in input order
    expected = sentiment_model.predict([texts[i] for i in kept])
    assert scored.column("label").to_pylist() == [p.label for p in expected]
    for got, want in zip(scored.column("score").to_pylist(), expected, strict=True):
        assert abs(got - want.score) < 1e-5
    assert scored.column("review").to_pylist()[-1] == "12345"  # a number in a text column is text

    errors = pacsv.read_csv(tmp_path / "scored.errors.csv").to_pylist()
    first = len(texts) - 3
    assert [(e["id"], e["row"]) for e in errors] == [(first, first + 1), (first + 1, first + 2)]
    assert {e["error"] for e in errors} == {"no text in column 'review'"}


def test_a_missing_column_or_a_wrong_kind_of_file_is_one_line(tmp_path: Path) -> None:
    source = tmp_path / "reviews.csv"
    source.write_text("id,text\n1,great\n")
    done = batch(source, tmp_path / "out.parquet", "--text-column", "review")
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {source} has no column 'review' (its columns: id, text)"
    json = tmp_path / "out.json"
    done = batch(source, json)
    assert (done.returncode, done.stderr.strip()) == (
        2,
        f"error: {json}: expected a .csv or .parquet file",
    )
    empty = tmp_path / "empty.csv"
    empty.write_text("text\n")
    done = batch(empty, tmp_path / "out.csv")
    assert (done.returncode, done.stderr.strip()) == (2, f"error: {empty} has no rows")
