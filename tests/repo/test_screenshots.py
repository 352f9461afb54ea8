"""Each Space's picture: committed, small, shown by the READMEs; the emoji font that draws it."""

from __future__ import annotations

import subprocess

import pytest
from conftest import MAX_SCREENSHOT_BYTES, REPO, SPACES
from PIL import Image

README = (REPO / "README.md").read_text()
SPACE_NAMES = sorted(p.parent.name for p in SPACES.glob("*/README.md"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("space", SPACE_NAMES)
def test_each_space_has_a_small_screenshot_that_the_readmes_show(space: str) -> None:
    picture = SPACES / space / "screenshot.png"
    assert picture.read_bytes()[:8] == PNG_SIGNATURE
    assert picture.stat().st_size <= MAX_SCREENSHOT_BYTES
    with Image.open(picture) as image:
        assert image.size == (1280, 1100)  # the browser tests' viewport, not a whole long page
    assert "](screenshot.png)" in (SPACES / space / "README.md").read_text()
    assert f'<img src="spaces/{space}/screenshot.png"' in README


def test_make_screenshots_saves_the_browser_tests_pictures_into_the_spaces() -> None:
    dry = subprocess.run(["make", "-n", "screenshots"], cwd=REPO, capture_output=True, text=True)
    assert "SAVE_SCREENSHOTS=1" in dry.stdout
    assert "-m browser" in dry.stdout


def test_make_browser_installs_the_emoji_font_even_where_chromium_is_installed() -> None:
    dry = subprocess.run(["make", "-n", "browser"], cwd=REPO, capture_output=True, text=True)
    guard, _, install = dry.stdout.partition("||")
    assert "command -v chromium" in guard
    assert "dpkg -s fonts-noto-color-emoji" in guard  # chromium alone does not skip the font
    assert "apt-get install" in install
    assert "fonts-noto-color-emoji" in install.split("apt-get install", 1)[1]
