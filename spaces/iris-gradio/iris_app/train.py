"""Train the Iris classifier: cross-validate candidates, keep the best, save it with metadata.

Run from the Space folder: `python -m iris_app.train` (deterministic: fixed seeds). Beside the
joblib artifact it writes the same model as ONNX (`model.onnx`), which the static twin
(`spaces/iris-static`) runs in the browser with onnxruntime-web.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from iris_app import data
from iris_app.model import onnx_of as onnx_path
from iris_app.model import twin_record
from iris_app.settings import get_settings

SEED = 42
TEST_SIZE = 0.2


def candidates() -> dict[str, BaseEstimator]:
    """The models compared by cross-validation, simplest first (ties keep the first)."""
    return {
        "logistic_regression": make_pipeline(
            StandardScaler(), LogisticRegression(C=1.0, max_iter=1000, random_state=SEED)
        ),
        "svc_rbf": make_pipeline(
            StandardScaler(), CalibratedClassifierCV(SVC(random_state=SEED), ensemble=False)
        ),
        "knn_7": make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=7)),
        "random_forest": RandomForestClassifier(n_estimators=200, random_state=SEED),
    }


def _versions() -> dict[str, str]:
    names = ("scikit-learn", "numpy", "joblib")
    return {"python": platform.python_version()} | {n: metadata.version(n) for n in names}


def _model_version(name: str, estimator: BaseEstimator, iris: data.IrisData) -> str:
    """A version that changes whenever the model, its parameters, the data or sklearn change."""
    digest = hashlib.sha256()
    for part in (name, repr(estimator.get_params()), metadata.version("scikit-learn")):
        digest.update(part.encode())
    digest.update(np.ascontiguousarray(iris.x).tobytes())
    return f"{name}-{digest.hexdigest()[:10]}"


def train() -> tuple[BaseEstimator, dict[str, Any]]:
    """Select the best candidate by repeated stratified CV on the training split."""
    iris = data.load()
    x_train, x_test, y_train, y_test = train_test_split(
        iris.x, iris.y, test_size=TEST_SIZE, stratify=iris.y, random_state=SEED
    )
    cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=3, random_state=SEED)
    scores = {
        name: cross_val_score(est, x_train, y_train, cv=cv, scoring="accuracy")
        for name, est in candidates().items()
    }
    best = max(scores, key=lambda n: round(float(scores[n].mean()), 6))
    model = clone(candidates()[best]).fit(x_train, y_train)
    features = [
        {
            "name": name,
            "unit": data.UNIT,
            "min": float(iris.x[:, i].min()),
            "max": float(iris.x[:, i].max()),
        }
        for i, name in enumerate(data.FEATURES)
    ]
    meta = {
        "model_version": _model_version(best, model, iris),
        "model_name": best,
        "features": features,
        "classes": list(iris.classes),
        "metrics": {
            "cv_accuracy_mean": round(float(scores[best].mean()), 4),
            "cv_accuracy_std": round(float(scores[best].std()), 4),
            "test_accuracy": round(float(model.score(x_test, y_test)), 4),
            "cv_scheme": "5-fold stratified, repeated 3 times, on the training split",
            "candidates": {n: round(float(s.mean()), 4) for n, s in scores.items()},
        },
        "data": {"train_rows": len(y_train), "test_rows": len(y_test), "seed": SEED},
        "versions": _versions(),
    }
    return model, meta


def to_onnx(model: BaseEstimator) -> bytes:
    """The fitted model as an ONNX graph: float64 rows of 4 in, `label` and `probabilities` out."""
    import warnings

    from skl2onnx import to_onnx as convert

    example = data.load().x[:1]
    with warnings.catch_warnings():  # SVC's probA_/probB_ deprecation (scikit-learn 1.9)
        warnings.simplefilter("ignore", FutureWarning)
        onnx_model = convert(model, example, options={id(model): {"zipmap": False}})
    return onnx_model.SerializeToString()


def save(model: BaseEstimator, meta: dict[str, Any], model_path: Path, meta_path: Path) -> None:
    """Write the joblib artifact, its ONNX twin and the JSON metadata, which records the twin
    once it is checked against the model (so that the Space can serve it without scikit-learn)."""
    model_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_path)
    onnx_path(model_path).write_bytes(to_onnx(model))
    record = twin_record(model_path, model)
    saved = meta | {"onnx_twin": record} if record else meta
    meta_path.write_text(json.dumps(saved, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Command line: train and save to the paths in the settings (or those given)."""
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=settings.model_path)
    parser.add_argument("--metadata", type=Path, default=settings.metadata_path)
    args = parser.parse_args(argv)
    model, meta = train()
    save(model, meta, args.model, args.metadata)
    metrics = meta["metrics"]
    print(
        f"{meta['model_version']}: CV {metrics['cv_accuracy_mean']:.3f} "
        f"± {metrics['cv_accuracy_std']:.3f}, test {metrics['test_accuracy']:.3f} -> {args.model}"
    )


if __name__ == "__main__":
    main()
