"""A visitor in Debian's chromium: a review typed to its label, a CSV to its table and download."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import SPACES
from playwright.sync_api import expect

from sentiment_app.ui import percent

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SPACE = SPACES / "sentiment-streamlit"
REVIEWS = {
    "A masterpiece: moving, funny and beautifully shot.": "POSITIVE",
    "Utter rubbish.": "NEGATIVE",
}


def test_visitor_types_a_review_then_classifies_a_csv_and_downloads_the_results(
    ui_server: str, page: Any, tmp_path: Path, screenshot: Any, model_dir: Path
) -> None:
    page.goto(ui_server + "/", wait_until="load", timeout=90_000)
    expect(page.get_by_role("heading", name="🎭 Sentiment")).to_be_visible(timeout=90_000)
    caption = page.get_by_test_id("stCaptionContainer").first
    accuracy = json.loads((model_dir / "metrics.json").read_text())["imdb_heldout"]["accuracy"]
    expect(caption).to_contain_text(f"fine-tuned on IMDB: {percent(accuracy)} accuracy on 2,000")
    expect(caption).not_to_contain_text(str(SPACE))  # never a server path
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)  # no developer toolbar

    page.get_by_role("textbox", name="Text", exact=True).fill(
        "What a wonderful, funny and touching film! I loved every minute."
    )
    page.get_by_role("button", name="Analyse", exact=True).click()
    expect(page.get_by_test_id("stMetricValue")).to_contain_text("POSITIVE", timeout=60_000)

    reviews = tmp_path / "reviews.csv"
    with reviews.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "review"])
        writer.writerows(enumerate(REVIEWS, 1))
    page.get_by_role("tab", name="Batch").click()
    page.get_by_text("Upload a CSV").click()
    page.locator("input[type='file']").set_input_files(reviews)
    expect(page.get_by_text("reviews.csv")).to_be_visible(timeout=30_000)
    column = page.get_by_role("textbox", name="Column with the texts")
    column.fill("review")
    column.press("Enter")
    page.get_by_role("button", name="Analyse all").click()
    table = page.get_by_test_id("stDataFrame")
    expect(table).to_be_visible(timeout=60_000)
    cells = table.locator("td[role='gridcell']")  # the grid's accessible copy of its canvas
    expect(cells).to_have_text(
        [t for text, label in REVIEWS.items() for t in (text, label, re.compile(r"0\.\d+"))]
    )

    with page.expect_download() as download:
        page.get_by_role("button", name="Download results (CSV)").click()
    assert download.value.suggested_filename == "sentiment.csv"
    with Path(download.value.path()).open(newline="") as results:
        rows = list(csv.DictReader(results))
    assert {row["text"]: row["label"] for row in rows} == REVIEWS
    assert all(0.5 <= float(row["score"]) <= 1 for row in rows)
    page.get_by_role("heading", name="🎭 Sentiment").scroll_into_view_if_needed()
    screenshot(page, "sentiment-streamlit")
