"""The Iris Space's model figures on /metrics, in the app's own Prometheus registry.

The model tells `observe` the predictions of each call (`IrisModel.on_predict`); the queue depth
is read from the micro-batcher when /metrics is scraped. The model knows nothing of Prometheus.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from iris_app.model import IrisModel, Prediction

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000)


class ModelMetrics:
    """Predictions per species, rows per model call, rows waiting for the micro-batcher."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry  # the app's, served at /metrics
        self.predictions = Counter(
            "iris_predictions", "Predictions by species", ["species"], registry=registry
        )
        self.batch_size = Histogram(
            "iris_batch_size",
            "Rows per model call (a micro-batch of /predict requests, or one /predict/batch)",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "iris_queue_depth", "Rows waiting for the micro-batcher", registry=registry
        )
        self._batcher: Any = None
        self.queue_depth.set_function(lambda: getattr(self._batcher, "depth", 0))

    def observe(self, predictions: Sequence[Prediction]) -> None:
        """Record one model call."""
        self.batch_size.observe(len(predictions))
        for prediction in predictions:
            self.predictions.labels(prediction.species).inc()

    def watch(self, model: IrisModel, batcher: object) -> Callable[[], None]:
        """Follow a model's calls and a batcher's queue; returns the function that stops it."""
        model.on_predict, self._batcher = self.observe, batcher

        def unwatch() -> None:
            model.on_predict = self._batcher = None

        return unwatch
