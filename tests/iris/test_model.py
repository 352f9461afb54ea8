"""The model class loads the artifact, predicts batches in order and refuses bad artifacts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest
from iris.conftest import SPACE

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
    shutil.copy(settings.model_path.with_suffix(".onnx"), tmp_path / "model.onnx")
    with pytest.raises(ModelLoadError, match="do not match"):  # the twin its record vouches for
        IrisModel.load(tmp_path / "model.joblib", tmp_path / "meta.json")


def test_a_twin_the_metadata_vouches_for_serves_without_importing_scikit_learn() -> None:
    """Training records the checked twin's and the model's digests; a load that finds those very
    files serves the twin without scikit-learn (a fifth of the cold start), which loads only if
    the estimator itself is asked for."""
    settings = get_settings()
    script = (
        "import sys; import numpy as np; from iris_app.model import IrisModel; "
        f"m = IrisModel.load({str(settings.model_path)!r}, {str(settings.metadata_path)!r}); "
        "row = np.array([[6.3, 3.3, 6.0, 2.5]]); "
        "print(m.runtime, 'sklearn' in sys.modules, m.predict(row)[0].species); "
        "m.estimator; print('sklearn' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(SPACE)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["onnxruntime", "False", "virginica", "True"]
    meta = json.loads(settings.metadata_path.read_text())
    assert meta["onnx_twin"]["onnxruntime"] == metadata.version("onnxruntime")


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


def test_the_data_set_is_scikit_learns_read_without_importing_it() -> None:
    from sklearn.datasets import load_iris

    bunch, iris = load_iris(), data.load()
    np.testing.assert_array_equal(iris.x, bunch.data)
    np.testing.assert_array_equal(iris.y, bunch.target)
    assert (iris.x.dtype, iris.y.dtype) == (bunch.data.dtype, bunch.target.dtype)
    assert iris.classes == tuple(bunch.target_names)
    script = "import sys, app; print('sklearn' in sys.modules)"  # the whole Space, UI included
    env = {**os.environ, "PYTHONPATH": str(SPACE)}
    done = subprocess.run([sys.executable, "-c", script], cwd=SPACE, env=env, capture_output=True)
    assert done.stdout.split() == [b"False"], done.stderr[-2000:]
