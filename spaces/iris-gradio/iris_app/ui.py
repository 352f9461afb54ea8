"""The Gradio UI: sliders in, species and probabilities out, the flower placed among the data.

It calls the model directly (not the HTTP API), through a getter so that the model loaded by the
app's lifespan is the one used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd

from iris_app import data
from iris_app.model import IrisModel
from iris_app.tools import add_tools

YOURS = "your flower"
COLORS = {"setosa": "#4c78a8", "versicolor": "#f58518", "virginica": "#54a24b", YOURS: "#111111"}
# The UI's own events stay callable (gradio_client) but are neither documented nor MCP tools.
UI_ONLY = "undocumented"
UI_EVENT: dict[str, Any] = {"api_visibility": UI_ONLY}
EXAMPLES = {  # one real row of each species from the data set
    "setosa": [5.1, 3.5, 1.4, 0.2],
    "versicolor": [7.0, 3.2, 4.7, 1.4],
    "virginica": [6.3, 3.3, 6.0, 2.5],
}


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize() + f" ({data.UNIT})"


def training_frame() -> pd.DataFrame:
    """The data set as a table with a species column, for the scatter plots."""
    iris = data.load()
    frame = pd.DataFrame(iris.x, columns=list(data.FEATURES))
    frame["species"] = [iris.classes[i] for i in iris.y]
    return frame


def with_point(frame: pd.DataFrame, values: list[float]) -> pd.DataFrame:
    """The data set plus the visitor's flower, marked as its own series."""
    point = pd.DataFrame([dict(zip(data.FEATURES, values, strict=True)) | {"species": YOURS}])
    return pd.concat([frame, point], ignore_index=True)


def model_card(model: IrisModel) -> str:
    """A short Markdown summary of the model and its measured accuracy."""
    metrics = model.meta["metrics"]
    return (
        f"**Model** `{model.version}` · CV accuracy {metrics['cv_accuracy_mean']:.1%} "
        f"(± {metrics['cv_accuracy_std']:.1%}) · held-out test accuracy "
        f"{metrics['test_accuracy']:.1%} on {model.meta['data']['test_rows']} flowers."
    )


def build_ui(get_model: Callable[[], IrisModel], api_keys: str | None = None) -> gr.Blocks:
    """The Blocks app; `get_model` returns the loaded model when an event runs; `api_keys`
    (when set) guard the `predict` tool, not the visitor's sliders."""
    frame = training_frame()
    ranges = {f: (frame[f].min(), frame[f].max()) for f in data.FEATURES}

    def classify(*values: float) -> dict[str, float]:
        prediction = get_model().predict(np.array([values], dtype=np.float64))[0]
        return prediction.probabilities

    def place(*values: float) -> tuple[pd.DataFrame, pd.DataFrame]:
        plotted = with_point(frame, list(values))
        return plotted, plotted

    def show(*values: float) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame]:
        return classify(*values), *place(*values)

    def card() -> str:
        return model_card(get_model())

    with gr.Blocks(title="Iris classifier", analytics_enabled=False) as demo:
        gr.Markdown(
            "# 🌸 Iris classifier\nMeasure a flower's sepals and petals (in centimetres) and a "
            "scikit-learn model names its species. The same model answers the JSON API at "
            "[`/predict`](/docs#/predict) ([docs](/docs))."
        )
        with gr.Row():
            with gr.Column():
                sliders = [
                    gr.Slider(
                        minimum=max(0.1, math.floor(lo * 0.8 * 10) / 10),
                        maximum=math.ceil(hi * 1.2 * 10) / 10,
                        value=EXAMPLES["setosa"][i],
                        step=0.1,
                        label=_label(name),
                    )
                    for i, (name, (lo, hi)) in enumerate(ranges.items())
                ]
                button = gr.Button("Classify", variant="primary")
            with gr.Column():
                label = gr.Label(num_top_classes=3, label="Species")
                accuracy = gr.Markdown()
        with gr.Row():
            petals, sepals = (
                gr.ScatterPlot(
                    x=f"{part}_length",
                    y=f"{part}_width",
                    color="species",
                    color_map=COLORS,
                    label=f"{part.capitalize()}s (cm)",
                )
                for part in ("petal", "sepal")
            )
        gr.Examples(
            examples=list(EXAMPLES.values()),
            example_labels=[name.capitalize() for name in EXAMPLES],
            inputs=sliders,
            outputs=[label, petals, sepals],
            fn=show,
            run_on_click=True,
            label="One flower of each species",
            api_name="example",
            api_visibility=UI_ONLY,
        )
        triggers = [button.click, *(s.release for s in sliders)]
        gr.on(
            triggers, classify, inputs=sliders, outputs=label, api_name="classify", **UI_EVENT
        ).then(place, inputs=sliders, outputs=[petals, sepals], api_name="plot", **UI_EVENT)
        demo.load(classify, sliders, label, api_name="initial_prediction", **UI_EVENT)
        demo.load(place, sliders, [petals, sepals], api_name="initial_plot", **UI_EVENT)
        demo.load(card, outputs=accuracy, api_name="model_card", **UI_EVENT)
        add_tools(get_model, api_keys)  # the public API and MCP tool: predict
    return demo
