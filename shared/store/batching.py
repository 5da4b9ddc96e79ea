"""Group commit: many concurrent requests awaiting one bulk write.

On the embedded database a bulk write of fifty documents costs about as much as two single
writes, so a request queues its work, and one flusher hands everything queued to `flush` at
once. Durability is unchanged: each request is answered only after the write holding its work
has committed, with its own result or its own error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)

# `flush` answers each request in order: a result, or the exception that request must raise.
Flush = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]


def one(_: object) -> int:
    return 1


class Batcher(Generic[T, R]):
    """`in_flight` flushes may run at once: while one group waits on the database, the next
    gathers and goes, so a slow round trip does not hold every request behind it. Use 1 when
    groups must not overlap (their writes would conflict). A group holds at most `max_size`
    by `weight` (requests by default; a request heavier than that goes alone)."""

    def __init__(
        self,
        flush: Flush[T, R],
        max_size: int = 100,
        gather_s: float = 0.001,
        in_flight: int = 1,
        weight: Callable[[T], int] = one,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self.flush = flush
        self.max_size = max_size
        self.gather_s = gather_s
        self.in_flight = in_flight
        self.weight = weight
        self.on_idle = on_idle  # called when the last flush ends with nothing queued
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._flushers: set[asyncio.Task[None]] = set()
        self._gathering = False

    @property
    def idle(self) -> bool:
        """Nothing queued and no flush running."""
        return not self._queue and not self._flushers

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
        if self.on_idle is not None and self.idle:
            self.on_idle()

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(self.gather_s)  # let concurrent requests join
        finally:
            self._gathering = False
        while self._queue:
            group = self._next_group()
            self._start_flusher()  # the next group may gather while this one is written
            await self._run(group)

    def _next_group(self) -> list[tuple[T, asyncio.Future[R]]]:
        taken, size = 0, 0
        for request, _ in self._queue:
            size += self.weight(request)
            if taken and size > self.max_size:
                break
            taken += 1
        group, self._queue = self._queue[:taken], self._queue[taken:]
        return group

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


class KeyedBatcher(Generic[K, T, R]):
    """One `Batcher` per key (e.g. per batch of uploads), made on first use and dropped when
    idle, so groups never mix keys and finished keys leave nothing behind."""

    def __init__(self, make: Callable[[K], Batcher[T, R]]) -> None:
        self.make = make
        self._batchers: dict[K, Batcher[T, R]] = {}

    def __len__(self) -> int:
        return len(self._batchers)

    async def submit(self, key: K, request: T) -> R:
        batcher = self._batchers.get(key)
        if batcher is None:
            made = self._batchers[key] = self.make(key)
            made.on_idle = lambda: self._drop(key, made)
            batcher = made
        return await batcher.submit(request)

    def _drop(self, key: K, batcher: Batcher[T, R]) -> None:
        if self._batchers.get(key) is batcher:
            del self._batchers[key]
