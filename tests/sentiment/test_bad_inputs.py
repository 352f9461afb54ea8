"""The sentiment API's bad-input catalogue, sent to the running API (`python -m sentiment_app api`)
over loopback.

Each case gets its documented answer (a 4xx with the one error body naming the problem, or a
safe 200), and the API answers a good request right after it.
"""

from __future__ import annotations

import gzip
import json

import httpx
import pytest
from bad_requests import MB, Bad, as_json, check_answer, declared, raw, streamed

from sentiment_app.schemas import MAX_TEXTS

pytestmark = pytest.mark.slow
GOOD = {"text": "A charming, funny and moving film."}
VISIBLE = "at least one non-whitespace character"


def labelled(response: httpx.Response) -> None:
    """A safe answer: one label and its probability, as for any text."""
    body = response.json()
    assert body["label"] in {"POSITIVE", "NEGATIVE"}
    assert 0.5 <= body["score"] <= 1


def labelled_each(response: httpx.Response) -> None:
    results = response.json()["results"]
    assert results
    assert all(r["label"] in {"POSITIVE", "NEGATIVE"} for r in results)


T, TB = "/sentiment", "/sentiment/batch"
CASES = [
    # the body itself
    Bad("empty-body", T, 422, "body", send=raw(b"")),
    Bad("not-json", T, 422, "json decode error", send=raw(b"text=great")),
    Bad("truncated-json", T, 422, "json decode error", send=raw(b'{"text": "great')),
    Bad("json-null", T, 422, "valid dictionary", send=raw(b"null")),
    Bad("json-array", T, 422, "valid dictionary", send=as_json([GOOD])),
    Bad("form-encoded", T, 422, "valid dictionary", send={"data": GOOD}),
    Bad(
        "gzip-body",
        T,
        400,
        "error parsing the body",
        send={
            "content": gzip.compress(json.dumps(GOOD).encode()),
            "headers": {"content-type": "application/json", "content-encoding": "gzip"},
        },
    ),
    Bad("invalid-utf8", T, 400, "error parsing the body", send=raw(b'{"text": "caf\xe9"}')),
    Bad(
        "nested-100k-deep",
        T,
        400,
        "error parsing the body",
        send=raw(b"[" * 100_000 + b"]" * 100_000),
    ),
    Bad(
        "5000-digit-integer",
        T,
        400,
        "error parsing the body",
        send=raw(b'{"text": ' + b"9" * 5000 + b"}"),
    ),
    # fields: missing, extra, wrong types
    Bad("missing-text", T, 422, "text: field required", send=as_json({})),
    Bad("extra-field", T, 422, "lang: extra inputs", send=as_json({**GOOD, "lang": "en"})),
    Bad("batch-field-on-single", T, 422, "texts: extra inputs", send=as_json({"texts": ["great"]})),
    Bad("text-number", T, 422, "text: input should be a valid string", send=as_json({"text": 42})),
    Bad(
        "text-huge-number",
        T,
        422,
        "text: input should be a valid string",
        send=as_json({"text": 1e308}),
    ),
    Bad(
        "text-negative", T, 422, "text: input should be a valid string", send=as_json({"text": -1})
    ),
    Bad(
        "text-nan",
        T,
        422,
        "text: input should be a valid string",
        send=as_json({"text": float("nan")}),
    ),
    Bad(
        "text-infinity",
        T,
        422,
        "text: input should be a valid string",
        send=as_json({"text": float("inf")}),
    ),
    Bad("text-null", T, 422, "text: input should be a valid string", send=as_json({"text": None})),
    Bad(
        "text-boolean", T, 422, "text: input should be a valid string", send=as_json({"text": True})
    ),
    Bad(
        "text-object",
        T,
        422,
        "text: input should be a valid string",
        send=as_json({"text": {"en": "great"}}),
    ),
    # texts with nothing to read, or not Unicode
    Bad("text-empty", T, 422, VISIBLE, send=as_json({"text": ""})),
    Bad("text-whitespace", T, 422, VISIBLE, send=as_json({"text": " \n\t\u3000 "})),
    Bad("text-only-nul", T, 422, VISIBLE, send=as_json({"text": "\x00" * 8})),
    Bad("text-only-control", T, 422, VISIBLE, send=as_json({"text": "\x01\x07\x1b\x7f\x9b"})),
    Bad(
        "text-only-zero-width-and-rtl",
        T,
        422,
        VISIBLE,
        send=as_json({"text": "\u200b\u200f\u202e\ufeff"}),
    ),
    Bad("text-lone-surrogate", T, 422, "surrogate", send=as_json({"text": "great \ud800 film"})),
    # texts that are odd but readable: a safe answer
    Bad("emoji-only", T, 200, send=as_json({"text": "😍🎬👏"}), then=labelled),
    Bad("rtl-text", T, 200, send=as_json({"text": "\u202eفيلم رائع ومؤثر"}), then=labelled),
    Bad(
        "control-chars-inside",
        T,
        200,
        send=as_json({"text": "A\x00 charming\x1b film\x07."}),
        then=labelled,
    ),
    Bad(
        "long-text-under-the-limit",
        T,
        200,
        send=as_json({"text": "Dull. " * 150_000}),
        then=labelled,
    ),
    # sizes
    Bad("1mb-string", T, 413, "larger than 1000000 bytes", send=as_json({"text": "a" * MB})),
    Bad("50mb-declared", T, 413, "larger than", send=lambda: declared(50 * MB)),
    Bad("50mb-streamed", T, 413, "larger than", send=streamed(50 * MB)),
    Bad(
        "batch-empty",
        TB,
        422,
        "texts: list should have at least 1 item",
        send=as_json({"texts": []}),
    ),
    Bad(
        "batch-too-big",
        TB,
        422,
        f"at most {MAX_TEXTS} items",
        send=as_json({"texts": ["ok"] * (MAX_TEXTS + 1)}),
    ),
    Bad(
        "batch-one-nul-text",
        TB,
        422,
        f"texts.2: value error, text must contain {VISIBLE}",
        send=as_json({"texts": ["fine", "good", "\x00"]}),
    ),
    Bad(
        "batch-not-a-list",
        TB,
        422,
        "texts: input should be a valid list",
        send=as_json({"texts": "great"}),
    ),
    Bad(
        "batch-of-numbers",
        TB,
        422,
        "texts.0: input should be a valid string",
        send=as_json({"texts": [1, 2]}),
    ),
    Bad(
        "batch-of-odd-texts",
        TB,
        200,
        send=as_json({"texts": ["😡", "مرحبا", "ok\x00"]}),
        then=labelled_each,
    ),
    # wrong method
    Bad("get-sentiment", T, 405, "method not allowed", method="GET"),
]


def test_the_catalogue_is_large_and_distinct() -> None:
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_gets_its_documented_answer(case: Bad, api_server: str) -> None:
    check_answer(case, case.request(api_server))
    good = httpx.post(f"{api_server}/sentiment", json=GOOD, timeout=30)
    assert good.status_code == 200
    assert good.json()["label"] == "POSITIVE"
