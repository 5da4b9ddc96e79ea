"""FastAPI dependencies every service's routes share: the runtime, the long-poll wait.

Each service declares the parts it built (its repositories and services) in its own
`deps.py`, typed."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from shared.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


# How long a `next` call may wait for work to appear (long-poll), in seconds.
WaitS = Annotated[float, Query(ge=0, le=30, description="seconds to wait for work (long-poll)")]
