"""Opportunistic micro-batching: concurrent single predictions share one model call.

A request never waits for company: the worker takes whatever is queued the moment it is free, so
one client sees no added latency, and many clients are served by one vectorised call each round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

import numpy as np

Out = TypeVar("Out")
Out_co = TypeVar("Out_co", covariant=True)


class Batcher(Protocol[Out_co]):
    """What the API asks of a batcher: MicroBatcher here, Ray Serve's `@serve.batch` in
    iris_app.serve. Started and stopped once per lifespan."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def submit(self, row: np.ndarray) -> Out_co: ...


class MicroBatcher(Generic[Out]):
    """Queue rows, predict them in batches of up to `max_batch` in one worker thread."""

    def __init__(self, predict: Callable[[np.ndarray], Sequence[Out]], max_batch: int = 64) -> None:
        self.predict = predict
        self.max_batch = max_batch
        self.batch_sizes: list[int] = []  # recent batch sizes, for tests and metrics
        self._queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future[Out]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the worker on the running event loop."""
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the worker; queued requests are cancelled."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    @property
    def depth(self) -> int:
        """Rows waiting for the worker (the queue depth of /metrics)."""
        return self._queue.qsize()

    async def submit(self, row: np.ndarray) -> Out:
        """Predict one row, batched with whatever else is waiting."""
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        await self._queue.put((row, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            rows = np.vstack([row for row, _ in batch])
            self.batch_sizes = [*self.batch_sizes[-999:], len(batch)]
            try:
                outputs = await asyncio.to_thread(self.predict, rows)
            except Exception as exc:  # the callers see the model's error, the worker lives on
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), output in zip(batch, outputs, strict=True):
                if not future.done():
                    future.set_result(output)
