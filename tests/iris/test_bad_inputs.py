"""The Iris API's bad-input catalogue, sent to the running Space (`python app.py`) over loopback.

Each case gets its documented answer (a 4xx with the one error body naming the problem, or a
safe 200), and the Space answers a good request right after it.
"""

from __future__ import annotations

import gzip
import json

import httpx
import pytest
from bad_requests import MB, Bad, as_json, check_answer, declared, raw, streamed

from iris_app.schemas import MAX_BATCH, SETOSA

pytestmark = pytest.mark.slow


def flower(**changes: object) -> dict[str, object]:
    return {**SETOSA, **changes}


def without(name: str) -> dict[str, object]:
    return {k: v for k, v in SETOSA.items() if k != name}


def new_request_id(response: httpx.Response) -> None:
    """A request id that is not plain is replaced, never echoed into headers or logs."""
    assert response.json()["species"] == "setosa"
    rid = response.headers["x-request-id"]
    assert rid.isalnum()
    assert "script" not in rid


P, B = "/predict", "/predict/batch"
CASES = [
    # the body itself
    Bad("empty-body", P, 422, "body", send=raw(b"")),
    Bad("not-json", P, 422, "json decode error", send=raw(b"sepal_length=5.1")),
    Bad("truncated-json", P, 422, "json decode error", send=raw(b'{"sepal_length": 5.1,')),
    Bad("json-null", P, 422, "valid dictionary", send=raw(b"null")),
    Bad("json-array", P, 422, "valid dictionary", send=as_json([SETOSA])),
    Bad("json-string", P, 422, "valid dictionary", send=as_json("setosa")),
    Bad("form-encoded", P, 422, "valid dictionary", send={"data": {"sepal_length": "5.1"}}),
    Bad("text-plain", P, 422, "valid dictionary", send=raw(json.dumps(SETOSA), "text/plain")),
    Bad(
        "gzip-body",
        P,
        400,
        "error parsing the body",
        send={
            "content": gzip.compress(json.dumps(SETOSA).encode()),
            "headers": {"content-type": "application/json", "content-encoding": "gzip"},
        },
    ),
    Bad(
        "invalid-utf8", P, 400, "error parsing the body", send=raw(b'{"sepal_length": "\xff\xfe"}')
    ),
    Bad(
        "nested-100k-deep",
        P,
        400,
        "error parsing the body",
        send=raw(b"[" * 100_000 + b"]" * 100_000),
    ),
    # fields: missing, extra, wrong types
    Bad(
        "missing-field", P, 422, "petal_width: field required", send=as_json(without("petal_width"))
    ),
    Bad("extra-field", P, 422, "colour: extra inputs", send=as_json(flower(colour="blue"))),
    Bad(
        "string-number",
        P,
        422,
        "sepal_length: input should be a valid number",
        send=as_json(flower(sepal_length="5.1")),
    ),
    Bad(
        "boolean",
        P,
        422,
        "sepal_width: input should be a valid number",
        send=as_json(flower(sepal_width=True)),
    ),
    Bad("null-value", P, 422, "petal_length", send=as_json(flower(petal_length=None))),
    Bad("object-value", P, 422, "petal_length", send=as_json(flower(petal_length={"cm": 1.4}))),
    Bad("list-value", P, 422, "petal_width", send=as_json(flower(petal_width=[0.2]))),
    # numbers out of range, non-finite, too long
    Bad(
        "negative",
        P,
        422,
        "sepal_length: input should be greater than 0",
        send=as_json(flower(sepal_length=-5.1)),
    ),
    Bad(
        "zero",
        P,
        422,
        "petal_width: input should be greater than 0",
        send=as_json(flower(petal_width=0)),
    ),
    Bad("huge", P, 422, "less than or equal to 15", send=as_json(flower(sepal_length=1e308))),
    Bad(
        "overflow-1e400",
        P,
        422,
        "finite number",
        send=raw(json.dumps(flower(sepal_length=1.0)).replace("1.0", "1e400")),
    ),
    Bad(
        "nan",
        P,
        422,
        "sepal_length: input should be a finite number",
        send=as_json(flower(sepal_length=float("nan"))),
    ),
    Bad("infinity", P, 422, "finite number", send=as_json(flower(sepal_width=float("inf")))),
    Bad(
        "minus-infinity", P, 422, "finite number", send=as_json(flower(petal_length=float("-inf")))
    ),
    Bad(
        "5000-digit-integer",
        P,
        400,
        "error parsing the body",
        send=raw(json.dumps(flower(sepal_length=7)).replace("7", "7" * 5000)),
    ),
    # unicode and control characters in names and values
    Bad(
        "zero-width-in-key",
        P,
        422,
        "sepal_length: field required",
        send=as_json({**without("sepal_length"), "sepal\u200b_length": 5.1}),
    ),
    Bad(
        "rtl-override-key",
        P,
        422,
        "extra inputs",
        send=as_json(flower(**{"\u202egnel_lapes": 5.1})),
    ),
    Bad("lone-surrogate-key", P, 422, "unicode", send=as_json(flower(**{"\ud800": 1}))),
    Bad("control-chars-key", P, 422, "extra inputs", send=as_json(flower(**{"\x00\x1b[2J": 1}))),
    Bad("emoji-value", P, 422, "valid number", send=as_json(flower(sepal_length="🌸"))),
    # sizes
    Bad(
        "1mb-string",
        P,
        413,
        "larger than 262144 bytes",
        send=as_json(flower(sepal_length="9" * MB)),
    ),
    Bad("50mb-declared", P, 413, "larger than", send=declared(50 * MB)),
    Bad("50mb-streamed", P, 413, "larger than", send=streamed(50 * MB)),
    Bad(
        "batch-empty",
        B,
        422,
        "items: list should have at least 1 item",
        send=as_json({"items": []}),
    ),
    Bad(
        "batch-too-big",
        B,
        422,
        f"at most {MAX_BATCH} items",
        send=as_json({"items": [SETOSA] * (MAX_BATCH + 1)}),
    ),
    Bad(
        "batch-one-bad-item",
        B,
        422,
        "items.2.petal_width",
        send=as_json({"items": [SETOSA, SETOSA, without("petal_width")]}),
    ),
    Bad(
        "batch-not-a-list",
        B,
        422,
        "items: input should be a valid list",
        send=as_json({"items": SETOSA}),
    ),
    # wrong method (the UI mounted at / must not swallow it), request id
    Bad("get-predict", P, 405, "method not allowed", method="GET"),
    Bad(
        "put-predict-batch",
        B,
        405,
        "method not allowed",
        method="PUT",
        send=as_json({"items": [SETOSA]}),
    ),
    Bad(
        "script-request-id",
        P,
        200,
        send={"json": SETOSA, "headers": {"x-request-id": "<script>alert(1)</script>"}},
        then=new_request_id,
    ),
]


def test_the_catalogue_is_large_and_distinct() -> None:
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_gets_its_documented_answer(case: Bad, space_url: str) -> None:
    check_answer(case, case.request(space_url))
    good = httpx.post(f"{space_url}/predict", json=SETOSA, timeout=30)
    assert good.status_code == 200
    assert good.json()["species"] == "setosa"
