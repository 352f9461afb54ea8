"""The sentiment page in Debian's chromium, served as plain files with the internet blocked: the
Hub model cannot load, the page falls back to its own model/ folder and answers as the server
Space does (sentiment_app's model, ONNX Runtime, the same fine-tuned weights)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SPACES
from playwright.sync_api import expect
from static_pages import need_built, open_page

from bench.browser import block_internet, static_server
from sentiment_app.model import SentimentModel, load_model
from sentiment_app.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FOLDER = SPACES / "sentiment-static"
SENTENCES = Path(__file__).with_name("sentences.txt")
SERVER_MODEL = SPACES / "sentiment-streamlit" / "model"


def sentences() -> list[str]:
    """The project's own test sentences (comments and blank lines skipped)."""
    lines = (line.strip() for line in SENTENCES.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def server() -> SentimentModel:
    """The server Space's model as it ships: ONNX Runtime on the same fine-tuned weights."""
    need_built(SERVER_MODEL, "model.onnx")
    return load_model(Settings(model=str(SERVER_MODEL), workers=1))


@pytest.fixture(scope="module")
def answers(server: SentimentModel) -> tuple[list[str], np.ndarray]:
    """The test sentences and the server's P(positive) for each."""
    texts = sentences()
    assert len(texts) >= 200
    assert server.logits.name == "onnx"
    return texts, np.array(server.positive_probability(texts))


@contextmanager
def serve_page(page: Any, query: str = "") -> Iterator[tuple[Any, list[str]]]:
    """The page, started offline, and the non-loopback requests it attempted (all aborted)."""
    need_built(FOLDER, "vendor/transformers.min.js", "model/onnx/model.onnx")
    aborted = block_internet(page)
    with static_server(FOLDER) as url:
        open_page(page, url + query)
        yield page, aborted


@pytest.fixture
def sentiment_page(page: Any) -> Iterator[tuple[Any, list[str]]]:
    """The page as a visitor opens it: the Hub unreachable, its model/ folder in fp32."""
    with serve_page(page) as started:
        yield started


def browser_answers(page: Any, texts: list[str]) -> np.ndarray:
    """P(positive) for each text, computed by the page."""
    got = page.evaluate("texts => window.sentiment.classify(texts)", texts)
    return np.array([g["score"] if g["label"] == "POSITIVE" else 1 - g["score"] for g in got])


def test_the_page_answers_as_the_server_does(
    sentiment_page: tuple[Any, list[str]], answers: tuple[list[str], np.ndarray]
) -> None:
    page, aborted = sentiment_page
    texts, server = answers
    browser = browser_answers(page, texts)
    assert page.evaluate("window.sentiment.model.dtype") == "fp32"
    same = (browser >= 0.5) == (server >= 0.5)
    assert same.mean() >= 0.99, [t for t, s in zip(texts, same, strict=True) if not s]
    assert np.abs(browser - server).max() <= 0.02
    assert aborted, "the page did not try the Hub first"
    assert all(url.startswith("https://huggingface.co/") for url in aborted), aborted


def test_the_int8_graph_stays_close_to_the_server(
    page: Any, answers: tuple[list[str], np.ndarray]
) -> None:
    """?dtype=q8 loads onnx/model_quantized.onnx, 4× smaller. Dynamic int8 moves scores (measured
    on these sentences: 97.4% same labels, mean |Δ| 0.012, max 0.10), so the bounds are looser."""
    texts, server = answers
    with serve_page(page, "?dtype=q8") as (int8_page, _):
        browser = browser_answers(int8_page, texts)
        assert int8_page.evaluate("window.sentiment.model.dtype") == "q8"
        assert ((browser >= 0.5) == (server >= 0.5)).mean() >= 0.97
        assert np.abs(browser - server).mean() <= 0.05


def test_the_page_says_which_model_runs(
    sentiment_page: tuple[Any, list[str]], screenshot: Any
) -> None:
    page, _ = sentiment_page
    model = page.locator("#model")
    expect(model).to_contain_text("model/ folder (the Hub could not be reached)")
    expect(model).to_contain_text(re.compile(r"fp32 ONNX, \d+\.\d MB downloaded"))
    expect(page.locator("#progress")).to_have_attribute("value", "1")
    expect(page.locator("#results tbody tr")).to_have_count(3)  # the example texts, on load
    screenshot(page, "sentiment-static")


def test_a_visitor_types_and_presses_ctrl_enter(sentiment_page: tuple[Any, list[str]]) -> None:
    page, _ = sentiment_page
    box = page.get_by_label("Texts, one per line")
    box.fill("What a wonderful, heartwarming film.\n\nThe worst meal I have ever eaten.")
    box.press("Control+Enter")
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-label", "POSITIVE")
    expect(rows.nth(1)).to_have_attribute("data-label", "NEGATIVE")
    box.fill("   ")
    page.get_by_role("button", name="Classify").click()
    expect(page.locator("#message")).to_have_text("Type at least one non-empty line of text.")


def test_a_visitor_drops_a_csv(sentiment_page: tuple[Any, list[str]], tmp_path: Path) -> None:
    page, _ = sentiment_page
    csv = 'id,text\n1,"I loved it, truly."\n2,"Dull, slow and ""funny"" only by accident."\n3,\n'
    page.locator("#form").dispatch_event("drop", {"dataTransfer": page.evaluate_handle(DROP, csv)})
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1).locator("td").first).to_have_text('Dull, slow and "funny" only by accident.')
    (tmp_path / "one.csv").write_text("first line of a CSV without a text header\n")
    page.locator("#csv").set_input_files(tmp_path / "one.csv")
    expect(rows).to_have_count(1)
    expect(page.locator("#summary")).to_contain_text("1 text(s)")


DROP = """csv => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([csv], "texts.csv", { type: "text/csv" }));
  return transfer;
}"""
