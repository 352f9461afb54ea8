"""The sentiment Space's model figures on /metrics, in the app's own Prometheus registry.

The model tells `observe` the predictions of each call (`SentimentModel.on_predict`), the batcher
tells `batch_size` each batch's size, and the queue depth is read from the micro-batcher when
/metrics is scraped. The model knows nothing of Prometheus.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sentiment_app.model import Prediction, SentimentModel

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ModelMetrics:
    """Predictions per label, texts per forward pass, texts waiting for the micro-batcher."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry  # the app's, served at /metrics
        self.predictions = Counter(
            "sentiment_predictions", "Predictions by label", ["label"], registry=registry
        )
        self.batch_size = Histogram(
            "sentiment_batch_size",
            "Texts per forward pass of the sentiment model",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "sentiment_queue_depth", "Texts waiting for the micro-batcher", registry=registry
        )
        self._batcher: Any = None
        self.queue_depth.set_function(lambda: getattr(self._batcher, "depth", 0))

    def observe(self, predictions: Sequence[Prediction]) -> None:
        """Record one model call's labels (its size comes from the batcher: `batch_size`)."""
        for prediction in predictions:
            self.predictions.labels(prediction.label).inc()

    def watch(self, model: SentimentModel, batcher: object) -> Callable[[], None]:
        """Follow a model's calls and a batcher's queue; returns the function that stops it."""
        model.on_predict, self._batcher = self.observe, batcher

        def unwatch() -> None:
            model.on_predict = self._batcher = None

        return unwatch
