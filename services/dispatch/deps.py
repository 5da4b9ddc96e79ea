"""Dispatch's parts, built once in main.py, and the typed dependencies the routes declare."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.dispatch.dispatcher import Dispatcher
from services.dispatch.leases import Leases, OpenLists, SlotRepository
from services.dispatch.replicas import Replicas
from services.dispatch.store import TaskStore
from services.dispatch.work import WorkClock
from services.dispatch.work_store import WorkStore
from shared.runtime import Runtime


@dataclass(frozen=True)
class DispatchParts:
    runtime: Runtime
    tasks: TaskStore
    leases: Leases
    work_store: WorkStore
    work: WorkClock
    replicas: Replicas
    dispatcher: Dispatcher

    @classmethod
    def build(cls, runtime: Runtime) -> DispatchParts:
        settings = runtime.settings
        slots = SlotRepository(runtime.db, runtime.outbox, OpenLists(runtime.db))
        tasks = TaskStore(runtime.db, slots, settings)
        leases = Leases(slots, tasks, settings)
        work_store = WorkStore(runtime.db, runtime.audit)
        work = WorkClock(work_store, settings)
        replicas = Replicas(runtime.db, settings)
        dispatcher = Dispatcher(tasks, leases, work, replicas, settings)
        return cls(runtime, tasks, leases, work_store, work, replicas, dispatcher)


async def get_parts(request: Request) -> DispatchParts:
    """A coroutine, so FastAPI runs it inline rather than in its thread pool."""
    parts: DispatchParts = request.app.state.parts
    return parts


async def get_tasks(request: Request) -> TaskStore:
    return (await get_parts(request)).tasks


async def get_work(request: Request) -> WorkClock:
    return (await get_parts(request)).work


async def get_work_store(request: Request) -> WorkStore:
    return (await get_parts(request)).work_store


PartsDep = Annotated[DispatchParts, Depends(get_parts)]
TasksDep = Annotated[TaskStore, Depends(get_tasks)]
WorkDep = Annotated[WorkClock, Depends(get_work)]
WorkStoreDep = Annotated[WorkStore, Depends(get_work_store)]
