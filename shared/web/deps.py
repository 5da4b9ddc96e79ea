"""FastAPI dependencies every service's routes share: the runtime, the long-poll wait, and
`PartsOf`, through which each service's `deps.py` hands routes the parts main.py built."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query, Request

from shared.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


# How long a `next` call may wait for work to appear (long-poll), in seconds.
WaitS = Annotated[float, Query(ge=0, le=30, description="seconds to wait for work (long-poll)")]


P = TypeVar("P")
T = TypeVar("T")


class PartsOf(Generic[P]):
    """A service's parts (`app.state.parts`, built once by its main.py): `Depends(parts.get)`
    hands a route all of them, `Depends(parts.part(lambda p: p.units))` one. Methods and
    functions, not a callable object: FastAPI resolves annotations through `__globals__`,
    which an object lacks. Coroutines, so FastAPI runs them inline, not in its thread pool."""

    def __init__(self, kind: type[P]) -> None:
        self.kind = kind

    async def get(self, request: Request) -> P:
        parts = request.app.state.parts
        if not isinstance(parts, self.kind):
            raise TypeError(f"app.state.parts is {type(parts).__name__}, not {self.kind.__name__}")
        return parts

    def part(self, pick: Callable[[P], T]) -> Callable[[Request], Awaitable[T]]:
        async def get(request: Request) -> T:
            return pick(await self.get(request))

        return get
