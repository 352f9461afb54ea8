"""The model class loads the artifact, predicts batches in order and refuses bad artifacts."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from iris_app import data
from iris_app.model import IrisModel, ModelLoadError
from iris_app.settings import get_settings


@pytest.fixture(scope="module")
def model() -> IrisModel:
    settings = get_settings()
    return IrisModel.load(settings.model_path, settings.metadata_path)


def test_predicts_every_species_in_order(model: IrisModel) -> None:
    iris = data.load()
    picks = [0, 60, 120, 1, 110]  # setosa, versicolor, virginica, setosa, virginica
    predictions = model.predict(iris.x[picks])
    assert [p.species for p in predictions] == [iris.classes[iris.y[i]] for i in picks]


def test_probabilities_cover_every_class_and_sum_to_one(model: IrisModel) -> None:
    for prediction in model.predict(data.load().x):
        assert list(prediction.probabilities) == list(model.classes)
        assert sum(prediction.probabilities.values()) == pytest.approx(1, abs=1e-5)
        assert prediction.probabilities[prediction.species] == max(
            prediction.probabilities.values()
        )


def test_accuracy_on_the_whole_data_set(model: IrisModel) -> None:
    iris = data.load()
    predicted = [model.classes.index(p.species) for p in model.predict(iris.x)]
    assert np.mean(np.array(predicted) == iris.y) >= 0.95


def test_missing_artifact_is_a_clear_error(tmp_path) -> None:
    settings = get_settings()
    with pytest.raises(ModelLoadError, match="cannot load the Iris model"):
        IrisModel.load(tmp_path / "absent.joblib", settings.metadata_path)


def test_metadata_that_does_not_match_is_refused(tmp_path) -> None:
    settings = get_settings()
    meta = json.loads(settings.metadata_path.read_text())
    meta["classes"] = ["a", "b"]
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    shutil.copy(settings.model_path, tmp_path / "model.joblib")
    with pytest.raises(ModelLoadError, match="do not match"):
        IrisModel.load(tmp_path / "model.joblib", tmp_path / "meta.json")


def test_the_onnx_twin_serves_with_the_joblib_models_probabilities(model: IrisModel) -> None:
    assert model.runtime == "onnxruntime"
    x = data.load().x
    with_onnx = model.proba(x)
    with_sklearn = model.estimator.predict_proba(x)
    assert np.abs(with_onnx - with_sklearn).max() < 1e-6


def test_without_a_usable_onnx_twin_scikit_learn_serves(tmp_path) -> None:
    settings = get_settings()
    shutil.copy(settings.model_path, tmp_path / "model.joblib")
    alone = IrisModel.load(tmp_path / "model.joblib", settings.metadata_path)
    assert alone.runtime == "scikit-learn"
    (tmp_path / "model.onnx").write_bytes(b"not a graph")
    broken = IrisModel.load(tmp_path / "model.joblib", settings.metadata_path)
    assert broken.runtime == "scikit-learn"
    # a twin of another model (stale after a retrain) disagrees, and is not used
    from sklearn.linear_model import LogisticRegression

    from iris_app.train import to_onnx

    iris = data.load()
    other = LogisticRegression(max_iter=500).fit(iris.x, iris.y)
    (tmp_path / "model.onnx").write_bytes(to_onnx(other))
    stale = IrisModel.load(tmp_path / "model.joblib", settings.metadata_path)
    assert stale.runtime == "scikit-learn"
    assert [p.species for p in stale.predict(iris.x[[0, 60, 120]])] == list(iris.classes)
