"""Group commit: many concurrent requests awaiting one bulk write.

On the embedded database a bulk write of fifty documents costs about as much as two single
writes, so a request queues its work, and one flusher hands everything queued to `flush` at
once. Durability is unchanged: each request is answered only after the write holding its work
has committed, with its own result or its own error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# `flush` answers each request in order: a result, or the exception that request must raise.
Flush = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]


class Batcher(Generic[T, R]):
    def __init__(self, flush: Flush[T, R], max_size: int = 100, gather_s: float = 0.001) -> None:
        self.flush = flush
        self.max_size = max_size
        self.gather_s = gather_s
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, request: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(self.gather_s)  # let concurrent requests join
            while self._queue:
                group, self._queue = self._queue[: self.max_size], self._queue[self.max_size :]
                await self._run(group)
        finally:
            self._flusher = None
            if self._queue:  # arrived while the last group was finishing
                self._flusher = asyncio.create_task(self._drain())

    async def _run(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self.flush([request for request, _ in group])
            if len(outcomes) != len(group):
                raise RuntimeError(f"flush answered {len(outcomes)} of {len(group)} requests")
        except Exception as exc:
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), outcome in zip(group, outcomes, strict=True):
            if future.done():  # the caller went away (cancelled)
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
