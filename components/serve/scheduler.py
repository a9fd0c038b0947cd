"""Continuous batching by tokens for the model server, with a bounded queue and deadlines.

A request is admitted only while the queue holds fewer than `max_queue_texts` texts; otherwise
it is refused at once (`Overloaded`, answered 503 with Retry-After). Its texts are tokenized on
a tokenizer thread, then queued. Whenever the model thread is free, the scheduler takes what is
queued, oldest first, up to `max_batch_tokens` tokens and `max_batch_texts` texts, and scores it
as one batch (length-sorted inside, order restored): no waiting window when the model is idle,
and bigger batches exactly when requests pile up while it is busy. A request that is not answered
within its deadline is refused and its texts leave the queue; a request whose caller went away
(its task cancelled, e.g. the client disconnected) leaves the queue too, so neither is scored.
"""

import asyncio
import collections
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from components.common.inference import Tokens
from components.serve.errors import RequestRefused


class Overloaded(RequestRefused):
    """The server cannot take this request now; the client should retry after `retry_after_s`
    (503)."""

    status = 503

    def __init__(self, message: str, reason: str, retry_after_s: int = 1):
        super().__init__(message)
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass
class _Item:
    tokens: Tokens
    texts: int
    length: int
    admitted: float
    future: asyncio.Future = field(repr=False)
    taken: bool = False


@dataclass
class BatchStats:
    """What one scheduled batch held, for metrics."""

    texts: int
    tokens: int
    queue_seconds: list[float]


class BatchScheduler:
    """Admits, tokenizes, queues and scores requests' texts in token-bounded batches."""

    def __init__(
        self,
        tokenize: Callable[[list[str]], Tokens],
        score: Callable[[Tokens], np.ndarray],
        max_batch_tokens: int,
        max_batch_texts: int,
        max_queue_texts: int,
        on_batch: Callable[[BatchStats], None] = lambda stats: None,
        on_reject: Callable[[str], None] = lambda reason: None,
    ):
        self._tokenize = tokenize
        self._score = score
        self._max_batch_tokens = max_batch_tokens
        self._max_batch_texts = max_batch_texts
        self._max_queue_texts = max_queue_texts
        self._on_batch = on_batch
        self._on_reject = on_reject
        self._queue: collections.deque[_Item] = collections.deque()
        self._queued_texts = 0
        self._active = 0
        self._draining = False
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._tokenizer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tokenize")
        self._model = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="score")

    @property
    def queued_texts(self) -> int:
        """Texts admitted and not yet handed to the model (tokenizing or waiting)."""
        return self._queued_texts

    @property
    def idle(self) -> bool:
        """True when no request is admitted and unanswered."""
        return self._active == 0

    def drain(self) -> None:
        """Refuse new requests from now on; those already admitted are still answered."""
        self._draining = True

    def _refuse(self, message: str, reason: str) -> Overloaded:
        self._on_reject(reason)
        return Overloaded(message, reason)

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.get_loop() is not loop:
            self._wakeup = asyncio.Event()
            self._worker = loop.create_task(self._run())

    async def submit(self, texts: list[str], timeout_s: float) -> np.ndarray:
        """The scores of `texts` (rows in their order), or Overloaded when refused or late."""
        self._start()
        if self._draining:
            raise self._refuse("the server is shutting down; retry on another replica", "draining")
        if self._queued_texts + len(texts) > self._max_queue_texts:
            raise self._refuse(
                f"the server is overloaded ({self._queued_texts} texts queued, the limit is "
                f"{self._max_queue_texts}); retry shortly",
                "queue_full",
            )
        loop = asyncio.get_running_loop()
        item = _Item({}, len(texts), 0, loop.time(), loop.create_future())
        self._queued_texts += item.texts
        self._active += 1
        try:
            async with asyncio.timeout(timeout_s):
                item.tokens = await loop.run_in_executor(self._tokenizer, self._tokenize, texts)
                item.length = sum(len(ids) for ids in item.tokens["input_ids"])
                self._queue.append(item)
                self._wakeup.set()
                return await item.future
        except TimeoutError:
            raise self._refuse(
                f"the request was not scored within its {timeout_s:g} s deadline; the server is "
                "overloaded, retry shortly",
                "deadline",
            ) from None
        except asyncio.CancelledError:
            self._on_reject("abandoned")
            raise
        finally:
            self._active -= 1
            if not item.taken:
                # Late or abandoned before the model took it: it leaves the queue unscored.
                item.taken = True
                self._queued_texts -= item.texts
                if item in self._queue:
                    self._queue.remove(item)

    def _next_batch(self) -> list[_Item]:
        batch: list[_Item] = []
        texts = tokens = 0
        while self._queue:
            item = self._queue[0]
            full = texts + item.texts > self._max_batch_texts
            if batch and (full or tokens + item.length > self._max_batch_tokens):
                break
            self._queue.popleft()
            item.taken = True
            self._queued_texts -= item.texts
            if item.future.done():
                continue
            batch.append(item)
            texts += item.texts
            tokens += item.length
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            batch = self._next_batch()
            if not self._queue:
                self._wakeup.clear()
            if not batch:
                continue
            now = loop.time()
            merged: Tokens = {
                name: [ids for item in batch for ids in item.tokens[name]]
                for name in batch[0].tokens
            }
            self._on_batch(
                BatchStats(
                    texts=sum(item.texts for item in batch),
                    tokens=sum(item.length for item in batch),
                    queue_seconds=[now - item.admitted for item in batch],
                )
            )
            try:
                scores = await loop.run_in_executor(self._model, self._score, merged)
            except Exception as exc:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            start = 0
            for item in batch:
                if not item.future.done():
                    item.future.set_result(scores[start : start + item.texts])
                start += item.texts
