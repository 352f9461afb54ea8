"""Small pieces every Space needs are written once and copied, never imported across folders.

Each Space must work when copied out alone, so these live in each folder; the tests keep the copies
identical, so a fix made in one reaches the others.
"""

from __future__ import annotations

from conftest import SPACES

PACKAGES = ["iris-gradio/iris_app", "sentiment-streamlit/sentiment_app", "rag-docker/rag_app"]
COPIED_MODULES = {
    "http_limits.py": PACKAGES,
    # error body, API keys, rate limits
    "security.py": PACKAGES,
    # request ids and JSON logs
    "observability.py": PACKAGES,
    # old environment variable names, read for one release
    "legacy_env.py": ["iris-gradio/iris_app", "rag-docker/rag_app"],
    # batch jobs' files in and out, and Ray started on loopback
    "tables.py": ["iris-gradio/iris_app", "sentiment-streamlit/sentiment_app"],
    # the API deployed on Ray Serve from its config file (Ray kept on loopback locally)
    "serving.py": ["iris-gradio/iris_app", "sentiment-streamlit/sentiment_app"],
}


def test_copied_modules_are_identical() -> None:
    for name, folders in COPIED_MODULES.items():
        texts = {folder: (SPACES / folder / name).read_text() for folder in folders}
        assert len(set(texts.values())) == 1, f"{name} differs between {', '.join(folders)}"
