"""FastAPI dependencies that hand handlers the objects a service built at start-up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from shared.runtime import Runtime


def from_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency returning `app.state.<name>` (a store, a builder) as set by main.py.

    A coroutine, so it runs inline rather than in FastAPI's thread pool."""

    async def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    get.__name__ = f"get_{name}"
    return get


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


# How long a `next` call may wait for work to appear (long-poll), in seconds.
WaitS = Annotated[float, Query(ge=0, le=30, description="seconds to wait for work (long-poll)")]
