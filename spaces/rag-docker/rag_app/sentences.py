"""Sentences of a passage as (start, end) character spans, so that quotes stay verbatim.

Markdown and PDF text is hard-wrapped, so a single line break is not a boundary; a blank line, a
list item, a heading, a table row or a code fence is. Inside a block, a sentence ends at `.`, `!`
or `?` followed by a space and a capital, digit, quote or bracket (not after e.g., i.e., vs., cf.).
"""

from __future__ import annotations

import re

Span = tuple[int, int]

MARKER = re.compile(r"[ \t]*(?:[-*+] |\d+[.)] |#{1,6} |\||```)")
HEADING = re.compile(r"[ \t]*#{1,6} ")
SENTENCE_END = re.compile(
    r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bvs\.)(?<!\bcf\.)(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9`\"'(\[*])"
)
WORD = re.compile(r"\w")


def blocks(text: str) -> list[Span]:
    """Paragraphs, list items, headings, table rows, and each line of a fenced code block."""
    found: list[Span] = []
    start: int | None = None
    alone = in_code = False
    pos = 0
    for line in text.splitlines(keepends=True):
        begin, pos = pos, pos + len(line)
        fence = line.lstrip().startswith("```")
        if not line.strip() or in_code or fence:
            if start is not None:
                found.append((start, begin))
            start, alone = None, False
            if line.strip():
                found.append((begin, pos))
            in_code ^= fence
            continue
        if start is not None and (alone or MARKER.match(line)):
            found.append((start, begin))
            start = None
        if start is None:
            start = begin
        alone = bool(HEADING.match(line))
    if start is not None:
        found.append((start, len(text)))
    return found


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str) -> list[Span]:
    """Every sentence (or list item, heading, code line) of `text`, in order."""
    spans: list[Span] = []
    for begin, end in blocks(text):
        marker = MARKER.match(text, begin)  # "4. A list item" is not a sentence "4." then "A..."
        after = marker.end() if marker else begin
        cuts = [m.end() for m in SENTENCE_END.finditer(text, after, end)] + [end]
        for cut in cuts:
            s, e = _trim(text, begin, cut)
            if e > s and WORD.search(text, s, e):
                spans.append((s, e))
            begin = cut
    return spans


def is_statement(text: str, span: Span, first: bool) -> bool:
    """Worth quoting: not a heading, a code fence or an all-caps title, and not a fragment that
    starts mid-sentence at the passage's edge."""
    sentence = text[span[0] : span[1]]
    if HEADING.match(sentence) or sentence.startswith("```"):
        return False
    if sentence.upper() == sentence and len(sentence) < 80:
        return False
    head = sentence[0]
    return not first or head.isupper() or head.isdigit() or head in "\"'([*-|`"


def quotable(text: str) -> list[tuple[Span, bool]]:
    """Every sentence of a passage, in order, and whether it is worth quoting."""
    return [(s, is_statement(text, s, n == 0)) for n, s in enumerate(sentence_spans(text))]


def only_headings(text: str) -> bool:
    """True for text made of Markdown headings alone (a chunk cut off before its section)."""
    return all(HEADING.match(text[s:e]) for s, e in sentence_spans(text))
