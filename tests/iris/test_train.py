"""Training is deterministic, picks a strong model and the committed artifact matches it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from iris_app import data, model, train
from iris_app.model import IrisModel
from iris_app.settings import get_settings


@pytest.fixture(scope="module")
def trained() -> tuple[object, dict]:
    return train.train()


def test_compares_several_candidates_and_keeps_the_best(trained: tuple[object, dict]) -> None:
    _, meta = trained
    scores = meta["metrics"]["candidates"]
    assert {"logistic_regression", "random_forest"} <= scores.keys()
    assert scores[meta["model_name"]] == max(scores.values())
    assert meta["metrics"]["cv_accuracy_mean"] >= 0.9
    assert meta["metrics"]["test_accuracy"] >= 0.9
    assert meta["data"] == {"train_rows": 120, "test_rows": 30, "seed": train.SEED}


def test_metadata_describes_features_classes_and_versions(trained: tuple[object, dict]) -> None:
    _, meta = trained
    assert [f["name"] for f in meta["features"]] == list(data.FEATURES)
    assert all(f["unit"] == "cm" and 0 < f["min"] < f["max"] for f in meta["features"])
    assert meta["classes"] == ["setosa", "versicolor", "virginica"]
    assert {"python", "scikit-learn", "numpy", "joblib"} <= meta["versions"].keys()
    assert meta["model_version"].startswith(meta["model_name"] + "-")


def test_committed_artifact_equals_a_fresh_training(trained: tuple[object, dict]) -> None:
    estimator, meta = trained
    settings = get_settings()
    committed = IrisModel.load(settings.model_path, settings.metadata_path)
    x = data.load().x
    np.testing.assert_allclose(
        committed.estimator.predict_proba(x), estimator.predict_proba(x), atol=1e-9
    )
    recorded = {k: v for k, v in committed.meta.items() if k != "onnx_twin"}
    assert recorded == json.loads(json.dumps(meta))
    assert committed.meta["onnx_twin"] == model.twin_record(settings.model_path, estimator)


def test_command_line_writes_a_loadable_artifact(tmp_path, capsys) -> None:
    model_path, meta_path = tmp_path / "m.joblib", tmp_path / "m.json"
    train.main(["--model", str(model_path), "--metadata", str(meta_path)])
    assert "test" in capsys.readouterr().out
    model = IrisModel.load(model_path, meta_path)
    assert model.predict(np.array([[5.1, 3.5, 1.4, 0.2]]))[0].species == "setosa"
    assert train.onnx_path(model_path).read_bytes() == train.to_onnx(model.estimator)


def test_committed_onnx_twin_is_the_committed_model(trained: tuple[object, dict]) -> None:
    """artifacts/model.onnx (run in the browser by spaces/iris-static) is written with the joblib
    artifact and gives its probabilities, and those of a fresh training, to 1e-7."""
    import onnxruntime as ort

    settings = get_settings()
    committed = IrisModel.load(settings.model_path, settings.metadata_path)
    graph = train.onnx_path(settings.model_path).read_bytes()
    assert graph == train.to_onnx(committed.estimator)
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    x = data.load().x
    labels, proba = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(proba, trained[0].predict_proba(x), atol=1e-7)
    assert (labels == proba.argmax(axis=1)).all()
