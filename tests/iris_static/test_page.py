"""The Iris page in Debian's chromium, served as plain files with the internet blocked: it predicts
what the Python model predicts, and a visitor can use it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from conftest import SPACES
from playwright.sync_api import expect
from static_pages import need_built, open_page

from bench.browser import block_internet, static_server
from iris_app import data
from iris_app.model import IrisModel
from iris_app.settings import get_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FOLDER = SPACES / "iris-static"


@pytest.fixture
def iris_page(page: Any) -> Iterator[tuple[Any, list[str]]]:
    """The page, started, and the list of non-loopback requests it attempted (all aborted)."""
    need_built(FOLDER, "vendor/ort.wasm.min.mjs", "vendor/ort-wasm-simd-threaded.wasm")
    aborted = block_internet(page)
    with static_server(FOLDER) as url:
        open_page(page, url)
        yield page, aborted


def flowers() -> np.ndarray:
    """The 150 flowers, plus every corner of the sliders' range and a few values beyond it."""
    settings = get_settings()
    meta = IrisModel.load(settings.model_path, settings.metadata_path).meta
    bounds = [(f["min"] * 0.8, f["max"] * 1.2) for f in meta["features"]]
    corners = list(itertools.product(*bounds))  # 16
    beyond = [[0.1, 0.1, 0.1, 0.1], [12.0, 8.0, 10.0, 4.0], [5.0, 3.0, 0.0, 0.0]]
    return np.vstack([data.load().x, corners, beyond])


def test_the_page_predicts_what_the_python_model_predicts(iris_page: tuple[Any, list]) -> None:
    page, aborted = iris_page
    rows = flowers()
    assert len(rows) >= 50
    settings = get_settings()
    model = IrisModel.load(settings.model_path, settings.metadata_path)
    expected = model.estimator.predict_proba(rows)
    got = page.evaluate("rows => window.iris.predict(rows)", rows.tolist())
    species = [g["species"] for g in got]
    assert species == [model.classes[i] for i in expected.argmax(axis=1)]
    probabilities = np.array([[g["probabilities"][c] for c in model.classes] for g in got])
    np.testing.assert_allclose(probabilities, expected, atol=1e-4)
    assert aborted == []  # the page asks for nothing beyond its own files


def test_a_visitor_sees_the_default_flower_then_picks_others(
    iris_page: tuple, screenshot: Any
) -> None:
    page, aborted = iris_page
    species = page.locator("#species")
    expect(species).to_have_text("setosa")  # the default flower, predicted on load
    expect(page.locator("#probabilities li")).to_have_count(3)
    expect(page.locator("#card")).to_contain_text("held-out test accuracy 96.7%")
    page.get_by_role("button", name="Virginica").click()
    expect(species).to_have_text("virginica")
    expect(page.get_by_label("Petal length (cm) value")).to_have_value("6")
    page.get_by_label("Petal length (cm) value").fill("4.5")
    page.get_by_label("Petal length (cm) value").press("Enter")
    page.get_by_label("Petal width (cm) value").fill("1.4")
    page.get_by_label("Petal width (cm) value").press("Enter")
    expect(species).to_have_text("versicolor")
    for plot in ("#petal-plot", "#sepal-plot"):  # 150 flowers and the visitor's
        expect(page.locator(f"{plot} circle.flower")).to_have_count(150)
        expect(page.locator(f"{plot} circle.yours")).to_have_count(1)
    screenshot(page, "iris-static")
    assert aborted == []
