"""The textbook Iris app, the benchmark's baseline: a sync route, model.predict on one row."""

from pathlib import Path

import joblib
from fastapi import FastAPI
from pydantic import BaseModel

ARTIFACTS = Path(__file__).resolve().parents[1] / "spaces" / "iris-gradio" / "artifacts"
CLASSES = ["setosa", "versicolor", "virginica"]

app = FastAPI()
model = joblib.load(ARTIFACTS / "model.joblib")


class Features(BaseModel):
    sepal_length: float
    sepal_width: float
    petal_length: float
    petal_width: float


@app.post("/predict")
def predict(f: Features) -> dict:
    row = [[f.sepal_length, f.sepal_width, f.petal_length, f.petal_width]]
    label = model.predict(row)[0]
    proba = model.predict_proba(row)[0]
    return {
        "species": CLASSES[label],
        "probabilities": {c: float(p) for c, p in zip(CLASSES, proba, strict=True)},
    }
