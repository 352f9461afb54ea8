"""The Iris data set as bundled with scikit-learn (no download), with units and names."""

from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
UNIT = "cm"


@dataclass(frozen=True)
class IrisData:
    """Features (n × 4, in cm), integer targets and class names."""

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]


def load() -> IrisData:
    """The 150 measurements of Fisher's Iris data set, read as `sklearn.datasets.load_iris` reads
    them (the CSV file scikit-learn ships: a header of counts and class names, then rows of four
    measurements and a class index) without importing scikit-learn, which would add most of a
    second to the Space's cold start."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("scikit-learn, which ships the Iris data set, is not installed")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "iris.csv"
    with path.open(newline="") as file:
        header = next(csv.reader(file))
        rows = np.loadtxt(file, delimiter=",", dtype=np.float64, ndmin=2)
    return IrisData(x=rows[:, :-1], y=rows[:, -1].astype(int), classes=tuple(header[2:]))
