"""Dispatch's parts, built once in main.py, and the typed dependencies the routes declare."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.dispatch.dispatcher import Dispatcher
from services.dispatch.flagged_store import FlaggedTasks
from services.dispatch.leases import Leases, OpenLists, SlotRepository
from services.dispatch.onboarding import Onboarding, OnboardingRepository
from services.dispatch.replicas import Replicas
from services.dispatch.store import TaskStore
from services.dispatch.work import WorkClock
from services.dispatch.work_store import WorkStore
from shared.runtime import Runtime
from shared.web.deps import PartsOf


@dataclass(frozen=True)
class DispatchParts:
    runtime: Runtime
    tasks: TaskStore
    leases: Leases
    work_store: WorkStore
    work: WorkClock
    replicas: Replicas
    dispatcher: Dispatcher
    flagged: FlaggedTasks
    onboarding: Onboarding

    @classmethod
    def build(cls, runtime: Runtime) -> DispatchParts:
        settings = runtime.settings
        slots = SlotRepository(runtime.db, runtime.outbox, OpenLists(runtime.db))
        tasks = TaskStore(runtime.db, slots, settings, runtime.storage)
        leases = Leases(slots, tasks, settings, runtime.tombstones)
        work_store = WorkStore(runtime.db, runtime.audit)
        work = WorkClock(work_store, settings, runtime.tombstones)
        replicas = Replicas(runtime.db, settings)
        onboarding = Onboarding(OnboardingRepository(runtime.db))
        dispatcher = Dispatcher(tasks, leases, work, replicas, settings, onboarding.admits)
        flagged = FlaggedTasks(runtime.db, slots, runtime.audit)
        return cls(
            runtime, tasks, leases, work_store, work, replicas, dispatcher, flagged, onboarding
        )


from_app = PartsOf(DispatchParts)
PartsDep = Annotated[DispatchParts, Depends(from_app.get)]
TasksDep = Annotated[TaskStore, Depends(from_app.part(lambda p: p.tasks))]
WorkDep = Annotated[WorkClock, Depends(from_app.part(lambda p: p.work))]
WorkStoreDep = Annotated[WorkStore, Depends(from_app.part(lambda p: p.work_store))]
