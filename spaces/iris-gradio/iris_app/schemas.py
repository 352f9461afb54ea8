"""Request and response bodies of the Iris API, with the constraints of real flowers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from iris_app.data import UNIT
from iris_app.security import documented_errors

MAX_BATCH = 1000

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 6.3, "sepal_width": 3.3, "petal_length": 6.0, "petal_width": 2.5}


def _measure(what: str, upper: float, example: float) -> object:
    """A finite, positive length in cm below a bound no real iris reaches."""
    return Field(
        gt=0,
        le=upper,
        allow_inf_nan=False,
        strict=True,
        description=f"{what} in {UNIT} (0 < value ≤ {upper:g}).",
        examples=[example],
    )


class IrisFeatures(BaseModel):
    """One flower's four measurements, in centimetres."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SETOSA, VIRGINICA]})

    sepal_length: Annotated[float, _measure("Sepal length", 15, 5.1)]
    sepal_width: Annotated[float, _measure("Sepal width", 10, 3.5)]
    petal_length: Annotated[float, _measure("Petal length", 15, 1.4)]
    petal_width: Annotated[float, _measure("Petal width", 10, 0.2)]


class PredictionOut(BaseModel):
    """The most likely species, each species' probability and the model that answered."""

    model_config = ConfigDict(
        protected_namespaces=(),
        json_schema_extra={
            "examples": [
                {
                    "species": "setosa",
                    "probabilities": {"setosa": 0.98, "versicolor": 0.02, "virginica": 0.0},
                    "model_version": "logistic_regression-0123456789",
                }
            ]
        },
    )

    species: str = Field(description="The predicted species.")
    probabilities: dict[str, float] = Field(description="Probability of each species (sum 1).")
    model_version: str = Field(description="Version of the model that made the prediction.")


class BatchIn(BaseModel):
    """Up to 1000 flowers, predicted in one call."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"items": [SETOSA, VIRGINICA]}]}
    )

    items: list[IrisFeatures] = Field(
        min_length=1, max_length=MAX_BATCH, description="The flowers."
    )


class BatchOut(BaseModel):
    """One prediction per item, in the order given."""

    predictions: list[PredictionOut]


class ModelInfo(BaseModel):
    """The model's metadata: features with units, classes, metrics and library versions."""

    model_config = ConfigDict(protected_namespaces=(), extra="allow")

    model_version: str
    model_name: str
    features: list[dict[str, float | str]]
    classes: list[str]
    metrics: dict[str, object]
    versions: dict[str, str]


class Health(BaseModel):
    """Liveness: the process is up."""

    status: Literal["ok"]


class Ready(BaseModel):
    """Readiness: the model is loaded, and its version."""

    model_config = ConfigDict(protected_namespaces=())

    status: Literal["ready"]
    model_version: str


ERROR_MEANINGS = {
    400: "The body is not parseable JSON (malformed, not UTF-8, or nested too deep).",
    401: "No API key, or not a valid one (only when the Space has an API key set).",
    413: "The request body is larger than the limit.",
    422: "Invalid request: the message names each bad field.",
    429: "Too many requests from this client; retry after Retry-After seconds.",
    503: "Not ready: the model is still loading.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with the one error body."""
    return documented_errors(ERROR_MEANINGS, *codes)


# What an API route may refuse with (routes with a body add 400, 413 and 422).
API_ERRORS = error_responses(401, 429, 503)
BODY_ERRORS = error_responses(400, 401, 413, 422, 429, 503)
