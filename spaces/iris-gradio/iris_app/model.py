"""Load the trained Iris classifier once and predict batches; knows nothing of HTTP or UI."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.exceptions import InconsistentVersionWarning

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """The predicted species and every class's probability."""

    species: str
    probabilities: dict[str, float]


class ModelLoadError(RuntimeError):
    """The artifact is missing, unreadable or does not match its metadata."""


class IrisModel:
    """A fitted scikit-learn classifier with its metadata."""

    def __init__(self, estimator: Any, meta: dict[str, Any]) -> None:
        self.estimator = estimator
        self.meta = meta
        self.classes: tuple[str, ...] = tuple(meta["classes"])
        self.features: tuple[str, ...] = tuple(f["name"] for f in meta["features"])
        self.version: str = meta["model_version"]
        # Told every call's predictions (the API's metrics); the model knows nothing of them.
        self.on_predict: Callable[[list[Prediction]], None] | None = None

    @classmethod
    def load(cls, model_path: Path, metadata_path: Path) -> IrisModel:
        """Read the joblib artifact and its metadata; fail with a clear message."""
        try:
            meta = json.loads(Path(metadata_path).read_text())
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot read the metadata {metadata_path}: {exc}") from exc
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", InconsistentVersionWarning)
                estimator = joblib.load(model_path)
        except Exception as exc:  # missing, truncated or not a pickle: unpickling raises anything
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelLoadError(f"cannot load the Iris model from {model_path}: {reason}") from exc
        trained_with = meta.get("versions", {}).get("scikit-learn")
        if caught or trained_with != metadata.version("scikit-learn"):
            log.warning(
                "model trained with scikit-learn %s, running %s: retrain it",
                trained_with,
                sklearn.__version__,
            )
        if len(getattr(estimator, "classes_", ())) != len(meta["classes"]):
            raise ModelLoadError("the model's classes do not match its metadata")
        return cls(estimator, meta)

    def predict(self, rows: np.ndarray) -> list[Prediction]:
        """Predict an (n, 4) array of measurements in cm, in the order of `self.features`."""
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            proba = self.estimator.predict_proba(rows)
        best = proba.argmax(axis=1)
        predictions = [
            Prediction(
                species=self.classes[b],
                probabilities={
                    c: round(float(p), 6) for c, p in zip(self.classes, row, strict=True)
                },
            )
            for b, row in zip(best, proba, strict=True)
        ]
        if self.on_predict is not None:
            self.on_predict(predictions)
        return predictions
