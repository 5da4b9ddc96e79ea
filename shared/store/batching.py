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
    """`in_flight` flushes may run at once: while one group waits on the database, the next
    gathers and goes, so a slow round trip does not hold every request behind it. Use 1 when
    groups must not overlap (their writes would conflict)."""

    def __init__(
        self,
        flush: Flush[T, R],
        max_size: int = 100,
        gather_s: float = 0.001,
        in_flight: int = 1,
    ) -> None:
        self.flush = flush
        self.max_size = max_size
        self.gather_s = gather_s
        self.in_flight = in_flight
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._flushers: set[asyncio.Task[None]] = set()
        self._gathering = False

    async def submit(self, request: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        self._start_flusher()
        return await future

    def _start_flusher(self) -> None:
        """A new flusher, unless one is gathering already or enough are running."""
        if self._gathering or len(self._flushers) >= self.in_flight or not self._queue:
            return
        self._gathering = True
        task = asyncio.create_task(self._drain())
        self._flushers.add(task)
        task.add_done_callback(self._flusher_done)

    def _flusher_done(self, task: asyncio.Task[None]) -> None:
        self._flushers.discard(task)
        self._start_flusher()  # arrived while the last group was finishing

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(self.gather_s)  # let concurrent requests join
        finally:
            self._gathering = False
        while self._queue:
            group, self._queue = self._queue[: self.max_size], self._queue[self.max_size :]
            self._start_flusher()  # the next group may gather while this one is written
            await self._run(group)

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
