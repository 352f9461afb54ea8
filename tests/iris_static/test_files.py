"""iris-static's own copy of the model is iris-gradio's, and its data file is Fisher's."""

from __future__ import annotations

import csv

import numpy as np
from conftest import SPACES

from iris_app import data

FOLDER = SPACES / "iris-static"


def test_the_model_and_its_metadata_are_copies_of_iris_gradios() -> None:
    """Each Space folder must work alone, so the ONNX file is copied; `make static` refreshes it."""
    for name in ("model.onnx", "metadata.json"):
        copy = (FOLDER / "artifacts" / name).read_bytes()
        assert copy == (SPACES / "iris-gradio" / "artifacts" / name).read_bytes(), name


def test_the_plotted_flowers_are_the_data_set() -> None:
    with (FOLDER / "data" / "iris.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    iris = data.load()
    values = np.array([[float(r[f]) for f in data.FEATURES] for r in rows])
    np.testing.assert_array_equal(values, iris.x)
    assert [r["species"] for r in rows] == [iris.classes[i] for i in iris.y]
