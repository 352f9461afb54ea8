"""The Space's API on Ray Serve: replicas, autoscaling, and Serve's own request batching.

    python -m sentiment_app.serve [--config serve.yaml] [--replicas N]

Each replica runs the Space's app (`create_app`: the same routes, schemas, keys and limits);
Serve's `@serve.batch` groups concurrent texts into one model call in place of the Space's
micro-batcher. serve.yaml (Ray Serve's config format) sets the replicas, autoscaling and the
replicas' settings; SENTIMENT_* variables set here go to the replicas too. Locally Ray runs on
127.0.0.1 and the API on SENTIMENT_HOST:SENTIMENT_PORT until Ctrl-C; with RAY_ADDRESS set the app
is deployed to that cluster (where `serve deploy serve.yaml` works as well).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Self

from fastapi import FastAPI

from sentiment_app.api import create_app
from sentiment_app.model import Prediction, SentimentModel
from sentiment_app.serving import (  # ray comes from here: it must not be imported first
    ReplicaHeaders,
    add_arguments,
    deploy,
    replica_name,
    serve,
)
from sentiment_app.settings import Settings

CONFIG = Path(__file__).resolve().parents[1] / "serve.yaml"


class ServeBatcher:
    """The API's batcher on Serve: `@serve.batch` gathers up to SENTIMENT_MAX_BATCH texts, waiting
    at most SENTIMENT_BATCH_WAIT_MS, and the model classifies them in one call."""

    def __init__(
        self, model: SentimentModel, settings: Settings, on_batch: Callable[[int], None]
    ) -> None:
        self.model, self.on_batch = model, on_batch
        self.classify.set_max_batch_size(settings.max_batch)
        self.classify.set_batch_wait_timeout_s(settings.batch_wait_ms / 1000)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def classify(self, texts: list[str]) -> list[Prediction]:
        self.on_batch(len(texts))
        return await asyncio.to_thread(self.model.predict, texts)

    async def predict(self, text: str) -> Prediction:
        return await self.classify(text)

    async def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        return list(await asyncio.gather(*(self.classify(t) for t in texts)))


@serve.deployment
@serve.ingress()
class SentimentApi:
    """One replica: the Space's API, built in the replica from its SENTIMENT_* settings."""

    def __serve_build_asgi_app__(self) -> FastAPI:
        app = create_app(Settings(), make_batcher=ServeBatcher)
        app.add_middleware(ReplicaHeaders, name=replica_name())
        return app


app = SentimentApi.bind()  # `serve deploy serve.yaml` imports this (import_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sentiment_app.serve", description=__doc__)
    add_arguments(parser, CONFIG)
    settings = Settings()
    return deploy(
        SentimentApi, parser.parse_args(argv), env_prefix="SENTIMENT_", host=settings.host,
        port=settings.port,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
