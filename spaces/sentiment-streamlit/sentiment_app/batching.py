"""Dynamic micro-batching: concurrent requests share one forward pass in one worker thread."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, Protocol, Self, TypeVar

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Batcher(Protocol[T_co]):
    """What the API asks of a batcher: MicroBatcher here, Ray Serve's `@serve.batch` in
    sentiment_app.serve. Entered once per lifespan."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def predict(self, text: str) -> T_co: ...

    async def predict_many(self, texts: Sequence[str]) -> list[T_co]: ...


class MicroBatcher(Generic[T]):
    """Queue texts; a background task gathers them (at most `max_batch`), runs `predict` once on
    the group in a worker thread and hands each caller its result.

    Under load (the last batch had company) a batch waits up to `wait_ms` for more texts; a lone
    request on a quiet server goes straight to the model. `on_batch(size)` is told each batch's
    size (the API's metrics).
    """

    def __init__(
        self,
        predict: Callable[[list[str]], list[T]],
        max_batch: int,
        wait_ms: float,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._predict = predict
        self._on_batch = on_batch
        self.max_batch = max_batch
        self.wait = wait_ms / 1000
        self.batch_sizes: Counter[int] = Counter()
        self._under_load = False
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[T]]] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sentiment-model")
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> MicroBatcher[T]:
        self._task = asyncio.create_task(self._run(), name="sentiment-micro-batcher")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    @property
    def depth(self) -> int:
        """Texts waiting for the worker (the queue depth of /metrics)."""
        return self._queue.qsize()

    async def predict(self, text: str) -> T:
        """The result for one text, computed together with whatever else is queued."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put((text, future))
        return await future

    async def predict_many(self, texts: Sequence[str]) -> list[T]:
        """Results for several texts, in order (they join the same queue)."""
        return list(await asyncio.gather(*(self.predict(t) for t in texts)))

    async def _gather(self) -> list[tuple[str, asyncio.Future[T]]]:
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.wait if self._under_load else 0.0)
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        self._under_load = len(batch) > 1
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [(t, f) for t, f in await self._gather() if not f.cancelled()]
            if not batch:
                continue
            self.batch_sizes[len(batch)] += 1
            if self._on_batch is not None:
                self._on_batch(len(batch))
            try:
                results = await loop.run_in_executor(
                    self._executor, self._predict, [t for t, _ in batch]
                )
            except Exception as exc:  # hand the model's error to every waiting caller
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
