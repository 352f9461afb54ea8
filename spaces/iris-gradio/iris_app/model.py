"""Load the trained Iris classifier once and predict batches; knows nothing of HTTP or UI.

Predictions run on ONNX Runtime from the artifact's ONNX twin (`model.onnx`, written beside
`model.joblib` by `python -m iris_app.train`): one call costs tens of microseconds where the
scikit-learn pipeline costs milliseconds (bench/results/iris_http.md). At load the twin must give
the joblib model's probabilities on the whole Iris data set (to 1e-6), else, or when it is
missing, the Space predicts with scikit-learn and logs why.
"""

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

from iris_app import data

log = logging.getLogger(__name__)
AGREEMENT = 1e-6  # largest probability difference allowed between the ONNX twin and joblib


@dataclass(frozen=True)
class Prediction:
    """The predicted species and every class's probability."""

    species: str
    probabilities: dict[str, float]


class ModelLoadError(RuntimeError):
    """The artifact is missing, unreadable or does not match its metadata."""


class OnnxProbabilities:
    """The class probabilities of the model's ONNX twin (float64 rows in), on one thread."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        feed = {self.input: np.ascontiguousarray(rows, dtype=np.float64)}
        return self.session.run(["probabilities"], feed)[0]


def _sklearn_probabilities(estimator: Any) -> Callable[[np.ndarray], np.ndarray]:
    def proba(rows: np.ndarray) -> np.ndarray:
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return estimator.predict_proba(rows)

    return proba


def _onnx_twin(model_path: Path, estimator: Any) -> OnnxProbabilities | None:
    """The ONNX twin of the joblib artifact, if it exists, loads and agrees with it."""
    path = Path(model_path).with_suffix(".onnx")
    if not path.is_file():
        log.info("no %s beside the model: predicting with scikit-learn", path.name)
        return None
    try:
        twin = OnnxProbabilities(path)
        probe = data.load().x
        gap = float(np.abs(twin(probe) - _sklearn_probabilities(estimator)(probe)).max())
    except Exception as exc:  # a broken or foreign graph: the joblib model still serves
        log.warning("cannot run %s (%s): predicting with scikit-learn", path, exc)
        return None
    if gap > AGREEMENT:
        log.warning(
            "%s differs from %s by %.2g: retrain; predicting with scikit-learn",
            path,
            model_path,
            gap,
        )
        return None
    return twin


class IrisModel:
    """A fitted scikit-learn classifier with its metadata, served by its ONNX twin if it has one."""

    def __init__(
        self,
        estimator: Any,
        meta: dict[str, Any],
        proba: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.estimator = estimator
        self.meta = meta
        self.classes: tuple[str, ...] = tuple(meta["classes"])
        self.features: tuple[str, ...] = tuple(f["name"] for f in meta["features"])
        self.version: str = meta["model_version"]
        self.proba = proba or _sklearn_probabilities(estimator)
        self.runtime = "onnxruntime" if isinstance(proba, OnnxProbabilities) else "scikit-learn"
        # Told every call's predictions (the API's metrics); the model knows nothing of them.
        self.on_predict: Callable[[list[Prediction]], None] | None = None

    @classmethod
    def load(cls, model_path: Path, metadata_path: Path) -> IrisModel:
        """Read the joblib artifact, its ONNX twin and its metadata; fail with a clear message."""
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
        return cls(estimator, meta, _onnx_twin(model_path, estimator))

    def predict(self, rows: np.ndarray) -> list[Prediction]:
        """Predict an (n, 4) array of measurements in cm, in the order of `self.features`."""
        if rows.ndim != 2 or rows.shape[1] != len(self.features):
            raise ValueError(f"expected rows of {len(self.features)} features, got {rows.shape}")
        proba = self.proba(rows)
        best = proba.argmax(axis=1).tolist()
        classes = self.classes
        predictions = [
            Prediction(
                species=classes[b],
                probabilities={c: round(p, 6) for c, p in zip(classes, row, strict=True)},
            )
            for b, row in zip(best, proba.tolist(), strict=True)
        ]
        if self.on_predict is not None:
            self.on_predict(predictions)
        return predictions
