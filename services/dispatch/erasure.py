"""What a deletion removes from dispatch: the tasks (pending, leased, flagged or done), every
lease and the record that ended it (the submitted work), the item marks, the tasks' places
on their groups' open lists, the project's versions and its handling times. Leases end at
once: a heartbeat or a submit on a deleted task is refused, and this process's pool
forgets the tasks when the deletion commits (other processes at their next sync)."""

from __future__ import annotations

from services.dispatch.dispatcher import Dispatcher
from services.dispatch.leases.slots import open_entry
from services.dispatch.work import WorkClock
from shared.events import DeletionRequested
from shared.store.erasure import Erasable, ErasurePlan, Removal
from shared.store.mongo import AsyncClientSession, ServiceDatabase

TASKS = "tasks"


def plan(db: ServiceDatabase, dispatcher: Dispatcher, work: WorkClock) -> ErasurePlan:
    async def off_open_lists(
        session: AsyncClientSession, event: DeletionRequested, removal: Removal
    ) -> int:
        """Each deleted task's rounds off its group's open list, and out of the `done`
        records not yet applied to the lists (a few, for a second or so)."""
        query = removal.queries.get(TASKS)
        if query is None:
            return 0
        changed = 0
        gone: set[str] = set()
        by_group: dict[str, list[str]] = {}
        tasks = db[TASKS].find(query, {"group": 1, "rework": 1}, session=session)
        async for task in tasks:
            rounds = [open_entry(task["_id"], r) for r in range(task.get("rework", 0) + 1)]
            gone.update(rounds)
            if task.get("group"):
                by_group.setdefault(task["group"], []).extend(rounds)
        for group, rounds in by_group.items():  # tasks made together share a group
            result = await db["task_groups"].update_one(
                {"_id": group}, {"$pull": {"open": {"$in": rounds}}}, session=session
            )
            changed += result.modified_count
        async for record in db["done"].find({}, session=session):
            kept = [e for e in record["entries"] if e[1] not in gone]
            if len(kept) < len(record["entries"]):
                changed += 1
                await db["done"].update_one(
                    {"_id": record["_id"]}, {"$set": {"entries": kept}}, session=session
                )
        return changed

    async def forget(event: DeletionRequested, removal: Removal) -> None:
        """Out of this process's pool at once, and a deleted project's handling times (not
        written yet) with it."""
        gone = removal.linked.get(f"{TASKS}._id", [])
        dispatcher.offer([{"_id": task_id, "status": "deleted"} for task_id in gone])
        dispatcher.leases.forget_tasks(gone)
        if event.scope in ("org", "project"):
            work.forget_projects(event.project_ids)

    by_task = ("task_id", TASKS, "_id")
    return ErasurePlan(
        collections=(
            Erasable(TASKS),
            # Records written before they carried their project and batch: by their task.
            Erasable("claims", org=None, item=None, linked=by_task),
            Erasable("item_marks", org=None, item=None, linked=by_task),
            Erasable("projects", project="_id", batch=None, item=None),
            Erasable("admissions", batch=None, item=None),  # onboarding: who may work on it
            Erasable("project_versions", batch=None, item=None),
            Erasable("handling_times", org=None, project="_id", batch=None, item=None),
        ),
        before=off_open_lists,
        after=forget,
    )
