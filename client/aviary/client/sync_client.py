"""The synchronous SDK: the same methods as AsyncClient, blocking.

One private event loop runs in a background thread per client; every method hands its call to
that loop and waits. Async iterators (`items`) come back as lists.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

from aviary.client.async_client import AsyncClient
from aviary.client.config import Endpoints


class Client:
    def __init__(self, token: str, endpoints: Endpoints | None = None, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="aviary-sdk"
        )
        self._thread.start()

        async def make() -> AsyncClient:
            return AsyncClient(token, endpoints, **options)

        self._async = self._run(make())

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        target = getattr(self._async, name)
        if inspect.isasyncgenfunction(target):

            def collect(*args: Any, **kwargs: Any) -> list[Any]:
                async def drain() -> list[Any]:
                    return [x async for x in target(*args, **kwargs)]

                return list(self._run(drain()))

            return collect
        if inspect.iscoroutinefunction(target):
            return lambda *args, **kwargs: self._run(target(*args, **kwargs))
        return target  # type: ignore[no-any-return]

    def close(self) -> None:
        self._run(self._async.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
