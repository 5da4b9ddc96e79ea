"""The bounded thread pool assist's CPU work runs in, off the event loop.

GrabCut, decoding and outlining are OpenCV and numpy calls that release the GIL, so they run
in parallel up to the cores. The pool has `Settings.assist_threads` threads: more calls than
that wait their turn in the pool instead of crowding the CPU, and the event loop stays free to
take requests and read images meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class CpuPool:
    def __init__(self, threads: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="assist-cpu")

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))

    async def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
