"""The Space's MCP tool: `predict`, served by Gradio's MCP server at /gradio_api/mcp/.

Gradio turns every public API endpoint into a tool named after its function, described by its
docstring and typed by its hints; the UI's own events are registered as undocumented so that
`predict` is the only tool. It answers with the JSON of `POST /predict`. No
`from __future__ import annotations` here: Gradio reads the hints at run time.
"""

from collections.abc import Callable

import gradio as gr
import numpy as np
from pydantic import ValidationError

from iris_app.model import IrisModel
from iris_app.schemas import IrisFeatures, PredictionOut
from iris_app.security import key_is_valid, parse_keys, presented_key


def readable(exc: ValidationError) -> str:
    """One sentence naming each bad argument, like the API's 422 message."""
    parts = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return "Invalid arguments. " + "; ".join(parts)


def add_tools(get_model: Callable[[], IrisModel | None], api_keys: str | None = None) -> None:
    """Register the tools on the Blocks being built (call inside `with gr.Blocks()`).

    With `api_keys`, a call needs one, over MCP (the API guard checks it first) and through
    gradio_client alike; the UI's own events never do.
    """
    keys = parse_keys(api_keys)

    def predict(
        sepal_length: float,
        sepal_width: float,
        petal_length: float,
        petal_width: float,
        request: gr.Request,
    ) -> str:
        """Predict the species of an iris flower (setosa, versicolor or virginica) from its four
        measurements in centimetres.

        Args:
            sepal_length: Sepal length in cm, above 0 and at most 15 (e.g. 5.1).
            sepal_width: Sepal width in cm, above 0 and at most 10 (e.g. 3.5).
            petal_length: Petal length in cm, above 0 and at most 15 (e.g. 1.4).
            petal_width: Petal width in cm, above 0 and at most 10 (e.g. 0.2).

        Returns:
            JSON {"species", "probabilities" (each species' probability), "model_version"}.
        """
        if keys and not key_is_valid(keys, presented_key(request.headers)):
            raise gr.Error(
                "This tool needs the Space's API key: send 'Authorization: Bearer <key>'."
            )
        try:
            features = IrisFeatures(
                sepal_length=sepal_length,
                sepal_width=sepal_width,
                petal_length=petal_length,
                petal_width=petal_width,
            )
        except ValidationError as exc:
            raise gr.Error(readable(exc)) from None
        model = get_model()
        if model is None:
            raise gr.Error("The model is not loaded yet; retry in a moment.")
        row = np.array([[getattr(features, f) for f in model.features]], dtype=np.float64)
        prediction = model.predict(row)[0]
        return PredictionOut(
            species=prediction.species,
            probabilities=prediction.probabilities,
            model_version=model.version,
        ).model_dump_json()

    gr.api(predict, api_name="predict", queue=False)
