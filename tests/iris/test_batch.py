"""`python -m iris_app.batch`: the Space's model on Ray Data, for real, locally on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import REPO, SPACES
from sklearn.datasets import load_iris

from iris_app.model import IrisModel
from iris_app.settings import Settings

SPACE = SPACES / "iris-gradio"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
# Runs in a subprocess: starts Ray as the CLI does, prints where its processes listen.
LISTEN = """
import os, sys
sys.path.insert(0, {repo!r})
from iris_app.tables import start_ray
from bench.processes import listening_addresses
ray, data = start_ray("IRIS_")
assert data.range(8).map_batches(lambda b: b).count() == 8
print("\\n".join(listening_addresses(os.getpid())))
ray.shutdown()
"""


def batch(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "iris_app.batch", *map(str, args)],
        cwd=SPACE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def flowers() -> pa.Table:
    """The 150 flowers under other column names, an id column, and four rows that fail."""
    data = load_iris()
    columns = {f"m{i}": data.data[:, i].tolist() for i in range(4)}
    bad = [["x", "3.0", "1.0", "0.2"], [None, "3", "1", "1"], ["-1", "3", "1", "1"], ["nan"] * 4]
    for row in bad:
        for i, value in enumerate(row):
            columns[f"m{i}"].append(value)
    table = pa.table(
        {k: pa.array([None if v is None else str(v) for v in c]) for k, c in columns.items()}
    )
    return table.add_column(0, "id", pa.array(range(1000, 1000 + table.num_rows)))


def test_every_flower_is_scored_in_order_and_bad_rows_go_to_the_errors_file(
    flowers: pa.Table, tmp_path: Path
) -> None:
    source, output = tmp_path / "flowers.csv", tmp_path / "scored.parquet"
    pacsv.write_csv(flowers, source)
    done = batch(source, output, "--columns", "m0,m1,m2,m3", "--actors", "2", "--batch-size", "16")
    assert done.returncode == 1, done.stderr[-3000:]  # 1: some rows went to the errors file
    assert "4 rows could not be scored" in done.stderr

    scored = pq.read_table(output)
    assert scored.column_names == [
        "id", "m0", "m1", "m2", "m3", "species",
        "probability_setosa", "probability_versicolor", "probability_virginica",
    ]  # fmt: skip
    assert scored.column("id").to_pylist() == list(range(1000, 1150))  # input order
    settings = Settings()
    model = IrisModel.load(settings.model_path, settings.metadata_path)
    expected = model.predict(load_iris().data)
    assert scored.column("species").to_pylist() == [p.species for p in expected]
    got = np.array([scored.column(f"probability_{c}").to_pylist() for c in model.classes]).T
    want = np.array([[p.probabilities[c] for c in model.classes] for p in expected])
    np.testing.assert_allclose(got, want, atol=1e-9)

    errors = pq.read_table(tmp_path / "scored.errors.parquet").to_pylist()
    assert [(e["id"], e["row"]) for e in errors] == [
        (1150, 151),
        (1151, 152),
        (1152, 153),
        (1153, 154),
    ]
    assert [e["error"] for e in errors] == [
        "m0 is not a number: 'x'",
        "m0 is missing",
        "m0 is not a positive length: '-1'",
        "m0 is not a positive length: 'nan'",
    ]


def test_a_missing_column_or_an_unreadable_file_is_one_line_naming_it(tmp_path: Path) -> None:
    source = tmp_path / "flowers.csv"
    source.write_text("sepal_length,sepal_width,petal_length\n5.1,3.5,1.4\n")
    done = batch(source, tmp_path / "out.csv")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: {source} has no column 'petal_width' "
        "(its columns: sepal_length, sepal_width, petal_length)"
    )
    broken = tmp_path / "flowers.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    done = batch(broken, tmp_path / "out.csv")
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {broken} is not a readable PARQUET file: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.csv").exists()


def test_all_good_rows_leave_no_errors_file_and_csv_output_reads_back(tmp_path: Path) -> None:
    data = load_iris()
    table = pa.table({name: data.data[:20, i] for i, name in enumerate(FEATURES)})
    source, output = tmp_path / "in.parquet", tmp_path / "out.csv"
    pq.write_table(table, source)
    (tmp_path / "out.errors.csv").write_text("stale\n")
    done = batch(source, output, "--actors", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    back = pacsv.read_csv(output)
    assert back.num_rows == 20
    assert back.column("sepal_length").to_pylist() == table.column("sepal_length").to_pylist()
    assert set(back.column("species").to_pylist()) == {"setosa"}
    assert not (tmp_path / "out.errors.csv").exists()


def test_local_ray_listens_on_loopback_only() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LISTEN.format(repo=str(REPO))],
        cwd=SPACE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    addresses = done.stdout.split()
    assert addresses, "Ray's processes listen nowhere?"
    hosts = {a.rsplit(":", 1)[0] for a in addresses}
    assert hosts <= {"127.0.0.1", "[::ffff:127.0.0.1]"}, addresses
