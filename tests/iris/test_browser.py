"""A real visitor in Debian's chromium: pick an example, classify, read the species."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_visitor_classifies_a_virginica(space_url: str, page: Any, screenshot: Any) -> None:
    page.goto(space_url + "/", wait_until="load", timeout=90_000)  # Gradio keeps connections open
    expect(page.get_by_text("held-out test accuracy")).to_be_visible(timeout=30_000)
    label = page.locator(".output-class, [data-testid='label-output-value']").first
    expect(label).to_have_text("setosa", timeout=30_000)  # the initial sliders
    page.get_by_text("Virginica", exact=True).click()  # an example runs on click
    expect(label).to_have_text("virginica", timeout=30_000)
    petal_length = page.get_by_role("spinbutton", name="Petal length (cm)")
    petal_length.fill("4.5")
    page.get_by_label("Petal width (cm)").first.fill("1.4")
    page.get_by_role("button", name="Classify").click()
    expect(label).to_have_text("versicolor", timeout=30_000)
    plots = page.locator(".vega-embed")
    expect(plots).to_have_count(2, timeout=30_000)
    expect(plots.first.locator("canvas, svg").first).to_be_visible()
    page.get_by_text("Iris classifier").first.scroll_into_view_if_needed()
    screenshot(page, "iris-gradio")
