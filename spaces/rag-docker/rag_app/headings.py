"""Where a chunk sits in its document: "Title > Section", embedded and keyword-indexed with it.

Markdown sections are its `##` and `###` headings (not inside code fences). Plain text and PDF
pages have no markup, so a section heading is a short line that is numbered ("3.5 A secret was
exposed") or written in capitals ("THE RECURSIVE CHARACTER SPLITTER"), the two conventions such
documents use, and that does not end like a sentence.
"""

from __future__ import annotations

import re

MARKDOWN_HEADING = re.compile(r"(#{2,3}) +(.+?)\s*$")
NUMBERED_HEADING = re.compile(r"\d+(?:\.\d+)*\.? +[A-Z][^.:;,!?]{2,78}")
CAPITALS_HEADING = re.compile(r"[A-Z0-9][A-Z0-9 &/()'-]{3,78}")


def title_of(text: str) -> str:
    """A document's title: its first non-empty line, without Markdown heading marks."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return first.strip().lstrip("#").strip()


def section_of(line: str, markdown: bool) -> str | None:
    """The section name if the line is a section heading."""
    line = line.strip()
    if markdown:
        match = MARKDOWN_HEADING.fullmatch(line)
        return match.group(2) if match else None
    if NUMBERED_HEADING.fullmatch(line) or CAPITALS_HEADING.fullmatch(line):
        return line
    return None


def section_starts(text: str, markdown: bool) -> list[int]:
    """Offsets where a section begins: 0, then each section heading's line (not in a fence)."""
    fence, offset, starts = False, 0, [0]
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fence = not fence
        elif not fence and offset and section_of(line, markdown):
            starts.append(offset)
        offset += len(line)
    return starts


def heading_at(text: str, position: int, title: str, markdown: bool) -> str:
    """'Title > Section' for a chunk starting at `position`: the last section heading before it."""
    fence, section, offset = False, "", 0
    for line in text.splitlines(keepends=True):
        if offset > position:
            break
        offset += len(line)
        if line.startswith("```"):
            fence = not fence
        elif not fence and (name := section_of(line, markdown)) and name != title:
            section = name
    return f"{title} > {section}" if section else title
