"""Small pieces every Space needs are written once and copied, never imported across folders.

Each Space must work when copied out alone, so these live in each folder; the tests keep the copies
identical, so a fix made in one reaches the others.
"""

from __future__ import annotations

import inspect

from conftest import SPACES

import iris_app.api
import rag_app.api
import sentiment_app.api

COPIED_MODULES = {
    "http_limits.py": ["iris-gradio/iris_app", "sentiment-streamlit/sentiment_app"],
}


def test_copied_modules_are_identical() -> None:
    for name, folders in COPIED_MODULES.items():
        texts = {folder: (SPACES / folder / name).read_text() for folder in folders}
        assert len(set(texts.values())) == 1, f"{name} differs between {', '.join(folders)}"


def test_every_api_answers_bad_input_the_same_way() -> None:
    """The 422 handler: one readable `message` naming each field, and the `detail` list."""
    apis = (iris_app.api, sentiment_app.api, rag_app.api)
    sources = {inspect.getsource(api.validation_error) for api in apis}
    assert len(sources) == 1, "validation_error differs between the Spaces' api.py"


def test_every_refusal_has_a_message() -> None:
    """HTTPException answers carry the same `message` field as validation errors."""
    sources = {inspect.getsource(api.http_error) for api in (iris_app.api, rag_app.api)}
    assert len(sources) == 1, "http_error differs between the Spaces' api.py"
