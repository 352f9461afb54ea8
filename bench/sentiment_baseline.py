"""The textbook baseline for bench/sentiment.py: one `pipeline(text)` call per request.

SENTIMENT_MODEL=DIR uvicorn bench.sentiment_baseline:app
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from pydantic import BaseModel
from transformers import pipeline

classifier = pipeline("text-classification", model=os.environ["SENTIMENT_MODEL"], truncation=True)
app = FastAPI(title="Sentiment baseline")


class TextIn(BaseModel):
    """One text."""

    text: str


@app.get("/health")
def health() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}


@app.post("/sentiment")
def sentiment(body: TextIn) -> dict[str, str | float]:
    """Classify one text with its own forward pass."""
    result = classifier(body.text)[0]
    return {"label": result["label"], "score": float(result["score"])}
