"""A visitor in Debian's chromium asks a question and watches the answer and its sources."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_visitor_asks_and_sees_the_answer_its_quoted_evidence_and_sources(
    space_url: str, page: Any, screenshot: Any
) -> None:
    page.goto(space_url + "/", wait_until="load", timeout=90_000)
    expect(page.get_by_text("The index holds")).to_be_visible(timeout=60_000)
    box = page.get_by_label("Question")
    box.fill("After how long without traffic does a free Space fall asleep?")
    box.press("Enter")
    bot = page.locator("[data-testid='bot']").last
    expect(bot).to_contain_text("Sources", timeout=60_000)
    expect(bot).to_contain_text("[1]")
    quote = bot.locator("blockquote")  # the evidence, under the answer, with its source
    expect(quote).to_contain_text("48 hours")
    expect(quote).to_contain_text("spaces-hardware-and-lifecycle.txt")
    screenshot(page, "rag-docker")
