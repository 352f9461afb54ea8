"""The Streamlit page: one text or a batch (pasted lines or a CSV); calls the model directly."""

from __future__ import annotations

import io
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from sentiment_app.model import SentimentModel
from sentiment_app.settings import Settings

EXAMPLES = [
    "A charming, funny and moving film: I loved every minute of it.",
    "The plot made no sense and the acting was wooden. Two hours I will never get back.",
    "Not bad at all, though the ending dragged a little.",
]
MAX_ROWS = 2000


class InputError(ValueError):
    """Bad input from the user, shown as a message."""


def texts_from_lines(raw: str) -> list[str]:
    """Non-empty pasted lines."""
    texts = [line.strip() for line in raw.splitlines() if line.strip()]
    if not texts:
        raise InputError("Paste at least one non-empty line of text.")
    return texts


def texts_from_csv(data: bytes, column: str, max_mb: int) -> list[str]:
    """The non-empty cells of `column` in a CSV file."""
    if len(data) > max_mb * 1_000_000:
        raise InputError(
            f"The file is too large: {len(data) / 1e6:.1f} MB, the limit is {max_mb} MB."
        )
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"Could not read the file as CSV: {exc}") from None
    if column not in frame.columns:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise InputError(f"The CSV has no column named '{column}' (its columns: {found}).")
    texts = [t.strip() for t in frame[column].dropna() if t.strip()]
    if not texts:
        raise InputError(f"The column '{column}' has no text in it.")
    return texts


def classify(model: SentimentModel, texts: list[str]) -> pd.DataFrame:
    """One row per text: text, label, score."""
    if len(texts) > MAX_ROWS:
        raise InputError(f"{len(texts)} texts: the demo takes at most {MAX_ROWS} at a time.")
    predictions = model.predict(texts)
    return pd.DataFrame(
        {
            "text": texts,
            "label": [p.label for p in predictions],
            "score": [p.score for p in predictions],
        }
    )


def _use_example() -> None:
    if st.session_state.example:
        st.session_state.text = st.session_state.example


def single(model: SentimentModel) -> None:
    """One text: label, score and a bar."""
    st.selectbox("Try an example", ["", *EXAMPLES], key="example", on_change=_use_example)
    text = st.text_area("Text", key="text", height=140, placeholder="Type or paste English text")
    if st.button("Analyse", type="primary", key="analyse"):
        if not text.strip():
            st.error("Please type some text first.")
            return
        result = model.predict([text])[0]
        icon = "🙂" if result.label == "POSITIVE" else "🙁"
        st.metric(
            "Sentiment", f"{icon} {result.label}", f"score {result.score:.3f}", delta_color="off"
        )
        st.progress(result.score, text=f"{result.label}: {result.score:.1%}")


def batch(model: SentimentModel, settings: Settings) -> None:
    """Many texts from pasted lines or a CSV: table, chart, CSV download."""
    source = st.radio("Input", ["Paste lines", "Upload a CSV"], horizontal=True, key="source")
    if source == "Paste lines":
        raw = st.text_area("One text per line", key="lines", height=160)
        upload, column = None, "text"
    else:
        upload = st.file_uploader("CSV file", type=["csv"], key="csv")
        column = st.text_input("Column with the texts", value="text", key="column")
    if not st.button("Analyse all", type="primary", key="analyse_all"):
        return
    try:
        if source == "Paste lines":
            texts = texts_from_lines(raw)
        elif upload is None:
            raise InputError("Upload a CSV file first.")
        else:
            texts = texts_from_csv(upload.getvalue(), column, settings.max_upload_mb)
        table = classify(model, texts)
    except InputError as exc:
        st.error(str(exc))
        return
    st.dataframe(table, width="stretch", hide_index=True)
    counts = table["label"].value_counts().reindex(["POSITIVE", "NEGATIVE"], fill_value=0)
    st.bar_chart(counts.rename("texts"))
    st.download_button(
        "Download results (CSV)",
        table.to_csv(index=False).encode(),
        file_name="sentiment.csv",
        mime="text/csv",
        key="download",
    )


def percent(share: float) -> str:
    """0.8885 -> "88.9%": rounded half up, as the README and metrics tables print it."""
    return f"{(Decimal(str(share)) * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def model_label(source: str, metrics: dict[str, Any] | None) -> str:
    """How the page names the model: a Hub id (linked), or what a local folder holds, never a
    server path."""
    if not Path(source).is_dir():
        return f"[`{source}`](https://huggingface.co/{source})"
    imdb = (metrics or {}).get("imdb_heldout") or {}
    if "accuracy" in imdb and "n" in imdb:
        return (
            f"offline model fine-tuned on IMDB: {percent(imdb['accuracy'])} accuracy on "
            f"{imdb['n']:,} held-out reviews"
        )
    return f"local model `{Path(source).name}`"


def render(model: SentimentModel, settings: Settings) -> None:
    """The whole page."""
    st.set_page_config(page_title="Sentiment", page_icon="🎭")
    st.title("🎭 Sentiment")
    st.caption(
        f"Model: {model_label(model.source, model.metrics)} · texts beyond {model.max_tokens} "
        "tokens keep head and tail"
    )
    one, many = st.tabs(["One text", "Batch"])
    with one:
        single(model)
    with many:
        batch(model, settings)
