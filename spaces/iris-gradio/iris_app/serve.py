"""The Space's API on Ray Serve: replicas, autoscaling, and Serve's own request batching.

    python -m iris_app.serve [--config serve.yaml] [--replicas N]

Each replica runs the Space's API (`create_app`: the same routes, schemas, keys and limits; the
Gradio UI stays on the Space); Serve's `@serve.batch` groups concurrent /predict requests into
one model call in place of the Space's micro-batcher. serve.yaml (Ray Serve's config format) sets
the replicas, autoscaling and the replicas' settings; IRIS_* variables set here go to the
replicas too. Locally Ray runs on 127.0.0.1 and the API on IRIS_HOST:IRIS_PORT until Ctrl-C; with
RAY_ADDRESS set the app is deployed to that cluster (where `serve deploy serve.yaml` works too).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import numpy as np
from fastapi import FastAPI

from iris_app.api import create_app
from iris_app.model import IrisModel, Prediction
from iris_app.serving import (  # ray comes from here: it must not be imported first
    ReplicaHeaders,
    add_arguments,
    deploy,
    replica_name,
    serve,
)
from iris_app.settings import Settings

CONFIG = Path(__file__).resolve().parents[1] / "serve.yaml"


class ServeBatcher:
    """The API's batcher on Serve: `@serve.batch` gathers up to IRIS_MAX_BATCH rows and the model
    predicts them in one call."""

    def __init__(self, model: IrisModel, settings: Settings) -> None:
        self.model = model
        self.classify.set_max_batch_size(settings.max_batch)

    def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002)
    async def classify(self, rows: list[np.ndarray]) -> list[Prediction]:
        return await asyncio.to_thread(self.model.predict, np.vstack(rows))

    async def submit(self, row: np.ndarray) -> Prediction:
        return await self.classify(row)


@serve.deployment
@serve.ingress()
class IrisApi:
    """One replica: the Space's API, built in the replica from its IRIS_* settings."""

    def __serve_build_asgi_app__(self) -> FastAPI:
        app = create_app(Settings(), make_batcher=ServeBatcher)
        app.add_middleware(ReplicaHeaders, name=replica_name())
        return app


app = IrisApi.bind()  # `serve deploy serve.yaml` imports this (import_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iris_app.serve", description=__doc__)
    add_arguments(parser, CONFIG)
    settings = Settings()
    return deploy(
        IrisApi, parser.parse_args(argv), env_prefix="IRIS_", host=settings.host,
        port=settings.port,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
