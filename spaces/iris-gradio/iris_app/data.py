"""The Iris data set as bundled with scikit-learn (no download), with units and names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_iris

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
UNIT = "cm"


@dataclass(frozen=True)
class IrisData:
    """Features (n × 4, in cm), integer targets and class names."""

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]


def load() -> IrisData:
    """The 150 measurements of Fisher's Iris data set."""
    bunch = load_iris()
    return IrisData(x=bunch.data, y=bunch.target, classes=tuple(bunch.target_names))
