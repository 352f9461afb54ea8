"""Load the trained Iris classifier once and predict batches; knows nothing of HTTP or UI.

Predictions run on ONNX Runtime from the artifact's ONNX twin (`model.onnx`, written beside
`model.joblib` by `python -m iris_app.train`): one call costs tens of microseconds where the
scikit-learn pipeline costs milliseconds (bench/results/iris_http.md). The twin must give the
joblib model's probabilities on the whole Iris data set (to 1e-6), else, or when it is missing,
the Space predicts with scikit-learn and logs why. Training checks that and records it in the
metadata (`onnx_twin`: both files' SHA-256 and the onnxruntime version); a load that finds the
same files and runtime trusts the record and never imports scikit-learn, which is a fifth of the
Space's cold start (bench/results/images.md). Otherwise the load checks the agreement itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

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
    import sklearn

    def proba(rows: np.ndarray) -> np.ndarray:
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return estimator.predict_proba(rows)

    return proba


def _onnx_twin(model_path: Path, estimator: Any) -> OnnxProbabilities | None:
    """The ONNX twin of the joblib artifact, if it exists, loads and agrees with it."""
    from iris_app import data

    path = onnx_of(model_path)
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


def _files_record(model_path: Path) -> dict[str, str] | None:
    """The joblib artifact's and its ONNX twin's SHA-256 and this onnxruntime's version; None if
    either file cannot be read."""
    try:
        digests = {
            key: hashlib.sha256(path.read_bytes()).hexdigest()
            for key, path in (("model_sha256", model_path), ("onnx_sha256", onnx_of(model_path)))
        }
    except OSError:
        return None
    return digests | {"onnxruntime": metadata.version("onnxruntime")}


def twin_record(model_path: Path, estimator: Any) -> dict[str, str] | None:
    """For the metadata: the record of an ONNX twin that agrees with `estimator`, else None."""
    if _onnx_twin(model_path, estimator) is None:
        return None
    return _files_record(model_path)


def onnx_of(model_path: Path) -> Path:
    """Where the ONNX twin of a joblib artifact lives: beside it, same name, `.onnx`."""
    return Path(model_path).with_suffix(".onnx")


def _recorded_twin(model_path: Path, meta: dict[str, Any]) -> OnnxProbabilities | None:
    """The twin, unchecked, when the metadata's record names these very files and runtime."""
    record = meta.get("onnx_twin")
    if not record or record != _files_record(model_path):
        return None
    try:
        twin = OnnxProbabilities(onnx_of(model_path))
        classes = twin(np.zeros((1, len(meta["features"])))).shape[1]
    except Exception as exc:  # the runtime cannot run it after all: load checks it the long way
        log.warning("cannot run %s (%s)", onnx_of(model_path), exc)
        return None
    if classes != len(meta["classes"]):
        raise ModelLoadError("the model's classes do not match its metadata")
    return twin


def _read_joblib(model_path: Path) -> tuple[Any, bool]:
    """The scikit-learn model of a joblib file, and whether scikit-learn warned that another
    version pickled it; ModelLoadError if it cannot be read."""
    import joblib
    from sklearn.exceptions import InconsistentVersionWarning

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InconsistentVersionWarning)
            return joblib.load(model_path), bool(caught)
    except Exception as exc:  # missing, truncated or not a pickle: unpickling raises anything
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"cannot load the Iris model from {model_path}: {reason}") from exc


class IrisModel:
    """A fitted scikit-learn classifier with its metadata, served by its ONNX twin if it has one."""

    def __init__(
        self,
        estimator: Any,
        meta: dict[str, Any],
        proba: Callable[[np.ndarray], np.ndarray] | None = None,
        model_path: Path | None = None,
    ) -> None:
        """`estimator` may be None with `proba` and `model_path`: it is loaded when first asked."""
        self._estimator = estimator
        self._model_path = model_path
        self.meta = meta
        self.classes: tuple[str, ...] = tuple(meta["classes"])
        self.features: tuple[str, ...] = tuple(f["name"] for f in meta["features"])
        self.version: str = meta["model_version"]
        self.proba = proba or _sklearn_probabilities(estimator)
        self.runtime = "onnxruntime" if isinstance(proba, OnnxProbabilities) else "scikit-learn"
        # Told every call's predictions (the API's metrics); the model knows nothing of them.
        self.on_predict: Callable[[list[Prediction]], None] | None = None

    @property
    def estimator(self) -> Any:
        """The scikit-learn model (read from its joblib file on first use, if the twin serves)."""
        if self._estimator is None and self._model_path is not None:
            self._estimator, _ = _read_joblib(self._model_path)
        return self._estimator

    @classmethod
    def load(cls, model_path: Path, metadata_path: Path) -> IrisModel:
        """Read the metadata and the ONNX twin it vouches for, else the joblib artifact and its
        twin, checked; fail with a clear message."""
        try:
            meta = json.loads(Path(metadata_path).read_text())
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot read the metadata {metadata_path}: {exc}") from exc
        twin = _recorded_twin(Path(model_path), meta)
        if twin is not None:
            return cls(None, meta, twin, model_path=Path(model_path))
        estimator, other_version = _read_joblib(model_path)
        trained_with = meta.get("versions", {}).get("scikit-learn")
        if other_version or trained_with != metadata.version("scikit-learn"):
            log.warning(
                "model trained with scikit-learn %s, running %s: retrain it",
                trained_with,
                metadata.version("scikit-learn"),
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
