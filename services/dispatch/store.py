"""Dispatch's data: project versions, tasks and their leases (database `<ns>_dispatch`)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from pymongo import ReturnDocument, UpdateMany, UpdateOne

from services.dispatch import domain
from services.dispatch.worklimits import VendorLimits, worked_seconds
from shared.errors import Conflict, NotFound, RetryLater
from shared.events import (
    Annotation,
    Envelope,
    GoldUpdated,
    ItemIngested,
    ProjectUpserted,
    TaskRejected,
    TaskSubmitted,
)
from shared.mongo import AsyncClientSession, Doc, utcnow
from shared.observability import correlation_id
from shared.projects import ProjectReadModel
from shared.runtime import Runtime

NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)
VERSION_CACHE_SIZE = 1000
PROJECT_CACHE_S = 5.0
POOL_FIELDS = {
    name: 1
    for name in (
        "item_id",
        "slot",
        "overlap",
        "vendor_id",
        "allowed_vendors",
        "priority",
        "deadline",
        "created_at",
        "status",
        "blocked_annotators",
        "preferred_annotator",
        "preferred_until",
    )
}


class DispatchStore:
    """All of dispatch's Mongo calls."""

    def __init__(self, runtime: Runtime) -> None:
        self.db = runtime.db
        self.outbox = runtime.outbox
        self.audit = runtime.audit
        self.settings = runtime.settings
        self.lease_ttl_s = runtime.settings.lease_ttl_s
        self.max_skips = runtime.settings.max_skips
        self.projects = ProjectReadModel(runtime.db)
        self.versions = runtime.db["project_versions"]
        self.tasks = runtime.db["tasks"]
        self._versions: dict[str, ProjectUpserted] = {}
        self.worktime = runtime.db["worktime"]
        self.limits = runtime.db["work_limits"]
        self.replicas = runtime.db["replicas"]
        self.gold = runtime.db["gold"]

    async def ensure_indexes(self) -> None:
        # What the pool reads (tasks that became pending since the last read), and by its
        # prefix, the leased tasks the sweeper checks. Every index costs each status change.
        await self.tasks.create_index([("status", 1), ("pending_since", 1)])
        await self.limits.create_index([("vendor_id", 1), ("kind", 1), ("name", 1)], unique=True)

    # ----- events in -----------------------------------------------------------------------

    async def save_project(self, session: AsyncClientSession, event: ProjectUpserted) -> None:
        """Keep every version (tasks are tied to the one they were made with) and the newest."""
        await self.versions.replace_one(
            {"_id": f"{event.project_id}:{event.version}"},
            event.model_dump(mode="json"),
            upsert=True,
            session=session,
        )
        await self.projects.save(session, event)

    async def get_project_version(self, project_id: str, version: int) -> ProjectUpserted:
        """A version never changes once published, so it is read once per process."""
        key = f"{project_id}:{version}"
        if (cached := self._versions.get(key)) is not None:
            return cached
        doc = await self.versions.find_one({"_id": key})
        if doc is None:
            raise NotFound("project version")
        doc.pop("_id", None)
        version_model = ProjectUpserted.model_validate(doc)
        if len(self._versions) >= VERSION_CACHE_SIZE:
            self._versions.pop(next(iter(self._versions)))
        self._versions[key] = version_model
        return version_model

    async def create_tasks_many(
        self, session: AsyncClientSession, events: Sequence[ItemIngested]
    ) -> None:
        """One task per required annotation (the project's overlap); many items share one
        insert."""
        docs: list[Doc] = []
        golds: dict[str, list[Doc]] = {}
        for event in events:
            project = await self.projects.get(event.project_id, max_age_s=PROJECT_CACHE_S)
            if project is None:
                raise RetryLater(f"project {event.project_id} not known yet")
            docs.extend(self._new_tasks(event, project))
            rate = project.review.gold_rate
            if rate > 0 and domain.unit_hash(f"gold:{event.item_id}") < rate:
                if event.project_id not in golds:
                    golds[event.project_id] = await self.gold.find(
                        {"project_id": event.project_id, "active": True}, session=session
                    ).to_list(None)
                if golds[event.project_id]:
                    docs.append(self._gold_task(event, project, golds[event.project_id]))
        await self.tasks.insert_many(docs, session=session)

    def _gold_task(self, event: ItemIngested, project: ProjectUpserted, golds: list[Doc]) -> Doc:
        """A known-answer task mixed in with this item's: built like any other task, so an
        annotator cannot tell it apart."""
        gold = golds[int(domain.unit_hash(f"pick:{event.item_id}") * len(golds))]
        doc = self._new_tasks(event, project)[0]
        doc.update(
            _id=domain.gold_task_id(event.item_id),
            item_id=gold["item_id"],
            image=gold["image"],
            ontology_version=gold["ontology_version"],
            pre_annotation=None,
            overlap=1,
            gold_id=gold["_id"],
        )
        return doc

    async def save_gold(self, session: AsyncClientSession, event: GoldUpdated) -> None:
        await self.gold.replace_one(
            {"_id": event.gold_id},
            {"_id": event.gold_id, **event.model_dump(mode="json", exclude={"gold_id"})},
            upsert=True,
            session=session,
        )

    def _new_tasks(self, event: ItemIngested, project: ProjectUpserted) -> list[Doc]:
        now = utcnow()
        return [
            {
                "_id": domain.task_id(event.item_id, slot),
                "item_id": event.item_id,
                "slot": slot,
                "project_id": event.project_id,
                "batch_id": event.batch_id,
                "org_id": event.org_id,
                "vendor_id": domain.route_vendor(project.vendors, event.item_id, slot),
                # Where idle capacity may take it from when its vendor falls behind.
                "allowed_vendors": [v.vendor_id for v in project.vendors],
                "overlap": project.overlap,
                "ontology_version": project.version,
                "priority": project.priority,
                # Tasks without a deadline sort after every task with one.
                "deadline": project.deadline or NO_DEADLINE,
                "pre_annotation": (
                    event.pre_annotation.model_dump(mode="json") if event.pre_annotation else None
                ),
                "image": event.image.model_dump(mode="json"),
                "status": "pending",
                "lease": None,
                "blocked_annotators": [],
                "holders": [],
                "skips": [],
                "preferred_annotator": None,
                "preferred_until": None,
                "rework": 0,
                "comments": [],
                "created_at": now,
                "pending_since": now,
            }
            for slot in range(project.overlap)
        ]

    async def rework(self, session: AsyncClientSession, event: TaskRejected) -> None:
        """Back to the pool, first for the annotator who made it, with the reviewer's words."""
        await self.tasks.update_one(
            {"_id": event.task_id, "submission_id": event.submission_id},
            {
                "$set": {
                    "status": "pending",
                    "lease": None,
                    "preferred_annotator": event.annotator_id,
                    "preferred_until": utcnow()
                    + timedelta(seconds=self.settings.rework_exclusive_s),
                    "pending_since": utcnow(),
                },
                "$inc": {"rework": 1},
                "$push": {
                    "comments": {
                        "reviewer_id": event.reviewer_id,
                        "reason": event.reason,
                        "comment": event.comment,
                        "at": utcnow(),
                    }
                },
            },
            session=session,
        )

    # ----- the pool's reads ----------------------------------------------------------------

    async def load_pending(self, since: datetime | None = None) -> list[Doc]:
        """Every pending task, or those that became pending after `since`: the fields the
        pool orders and filters by (a claim reads the whole task)."""
        query: Doc = {"status": "pending"}
        if since is not None:
            query["pending_since"] = {"$gt": since}
        return await self.tasks.find(query, POOL_FIELDS).to_list(None)

    async def load_tasks(self, task_ids: Sequence[str]) -> list[Doc]:
        return await self.tasks.find({"_id": {"$in": list(task_ids)}}).to_list(None)

    # ----- worker API ----------------------------------------------------------------------

    async def claim(self, claims: Sequence[Claim]) -> list[Doc | None]:
        """Lease many tasks in one transaction; each claim gets its leased task, or None when
        another process took the task first (the pool is a hint, this write decides).

        Every write to tasks runs in a transaction: on the embedded database a plain write
        that meets a transaction left open by a killed process retries inside the server while
        holding locks the database needs to abort that transaction (a deadlock); in a
        transaction the conflict comes back at once and the driver retries."""
        return await self.db.transaction(partial(self._claim, claims))

    async def _claim(
        self, claims: Sequence[Claim], session: AsyncClientSession
    ) -> list[Doc | None]:
        await self.tasks.bulk_write(
            [
                UpdateOne(
                    {
                        "_id": c.task_id,
                        "status": "pending",
                        "blocked_annotators": {"$ne": c.annotator_id},
                    },
                    {
                        "$set": {"status": "leased", "lease": c.lease, "vendor_id": c.vendor_id},
                        "$addToSet": {"holders": c.annotator_id},
                    },
                )
                for c in claims
            ],
            ordered=False,
            session=session,
        )
        ids = [c.task_id for c in claims]
        docs = {
            d["_id"]: d
            for d in await self.tasks.find({"_id": {"$in": ids}}, session=session).to_list(None)
        }
        won = [
            docs[c.task_id]
            if (docs.get(c.task_id, {}).get("lease") or {}).get("id") == c.lease["id"]
            else None
            for c in claims
        ]
        # Overlap: the other copies of each item must go to other annotators.
        blocks = [
            UpdateMany(
                {"_id": {"$in": c.sibling_ids}},
                {"$addToSet": {"blocked_annotators": c.annotator_id}},
            )
            for c, doc in zip(claims, won, strict=True)
            if doc is not None and c.sibling_ids
        ]
        if blocks:
            await self.tasks.bulk_write(blocks, ordered=False, session=session)
        return won

    async def get_held_task(
        self, vendor_id: str, annotator_id: str, task_id: str, known: Doc | None = None
    ) -> Doc:
        """A task this annotator holds or has held; anyone else gets 404, so ids do not leak.

        `known`: the task as this process leased it, if it did (saves a read; every write
        re-checks the lease anyway)."""
        task = known if known is not None else await self.tasks.find_one({"_id": task_id})
        if (
            task is None
            or task["vendor_id"] != vendor_id
            or annotator_id not in task.get("holders", [])
        ):
            raise NotFound("task")
        return task

    @staticmethod
    def _holder_filter(task_id: str, annotator_id: str, lease_id: str) -> Doc:
        # The holder may still act after expiry as long as nobody else has taken the task.
        return {
            "_id": task_id,
            "status": {"$in": ["leased", "pending"]},
            "lease.id": lease_id,
            "lease.annotator_id": annotator_id,
        }

    async def heartbeat(self, task_id: str, annotator_id: str, lease_id: str) -> Doc:
        async def extend(session: AsyncClientSession) -> Doc | None:
            task: Doc | None = await self.tasks.find_one_and_update(
                self._holder_filter(task_id, annotator_id, lease_id),
                {
                    "$set": {
                        "status": "leased",
                        "lease.expires_at": utcnow() + timedelta(seconds=self.lease_ttl_s),
                    }
                },
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            return task

        task = await self.db.transaction(extend)
        if task is None:
            raise LeaseLost()
        return task

    async def give_back(
        self, task: Doc, annotator_id: str, lease_id: str, skip: Doc | None = None
    ) -> Doc:
        """Release (skip=None) or skip: the task returns to the pool; a skipped one is blocked
        for this annotator, and flagged for an operator after `max_skips` skips."""
        now = utcnow()
        update: Doc = {"$set": {"status": "pending", "lease": None, "pending_since": now}}
        if skip is not None:
            flag = len(task.get("skips", [])) + 1 >= self.max_skips
            update = {
                "$set": {
                    "status": "flagged" if flag else "pending",
                    "lease": None,
                    "pending_since": now,
                },
                "$push": {"skips": {**skip, "annotator_id": annotator_id, "at": now}},
                "$addToSet": {"blocked_annotators": annotator_id},
            }

        async def work(session: AsyncClientSession) -> Doc:
            done = await self.tasks.find_one_and_update(
                self._holder_filter(task["_id"], annotator_id, lease_id),
                update,
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if done is None:
                raise LeaseLost()
            return done

        return await self.db.transaction(work)

    async def submit_many(self, submits: Sequence[Submit]) -> list[str | BaseException]:
        """Commit many submissions in one transaction: tasks, their `task.submitted` events and
        the annotators' time; when a lease was lost meanwhile, fall back to one at a time so
        only that request sees the 409."""
        try:
            await self.db.transaction(lambda session: self._submit_group(session, submits))
        except _GroupLeaseLost:
            outcomes: list[str | BaseException] = []
            for submit in submits:
                try:
                    await self.db.transaction(partial(self._submit_one, submit))
                except _GroupLeaseLost:
                    outcomes.append(LeaseLost())
                else:
                    outcomes.append(submit.submission_id)
            self.outbox.notify()
            return outcomes
        self.outbox.notify()
        return [s.submission_id for s in submits]

    async def _submit_one(self, submit: Submit, session: AsyncClientSession) -> None:
        await self._submit_group(session, [submit])

    async def _submit_group(self, session: AsyncClientSession, submits: Sequence[Submit]) -> None:
        now = utcnow()
        result = await self.tasks.bulk_write(
            [
                UpdateOne(
                    self._holder_filter(s.task["_id"], s.annotator_id, s.lease_id),
                    {
                        "$set": {
                            "status": "submitted",
                            "submission_id": s.submission_id,
                            "submitted_at": now,
                            "submitted_by": s.annotator_id,
                            "handling_s": s.seconds_worked(now),
                            # Shown again if the work comes back as rework, to fix, not redo.
                            "last_annotation": s.annotation.model_dump(mode="json"),
                        }
                    },
                )
                for s in submits
            ],
            ordered=False,
            session=session,
        )
        if result.matched_count != len(submits):
            raise _GroupLeaseLost()
        await self.outbox.add(session, *(s.event(now) for s in submits))

    async def recent_handling_times(self, project_id: str, limit: int = 200) -> list[float]:
        docs = (
            await self.tasks.find(
                {"project_id": project_id, "status": "submitted"}, {"handling_s": 1}
            )
            .sort("submitted_at", -1)
            .limit(limit)
            .to_list(limit)
        )
        return [float(d["handling_s"]) for d in docs if "handling_s" in d]

    async def project_task_stats(self, project_id: str) -> dict[str, dict[str, int]]:
        """Tasks of a project by vendor and state."""
        stats: dict[str, dict[str, int]] = {}
        async for doc in self.tasks.find({"project_id": project_id}, {"vendor_id": 1, "status": 1}):
            by_state = stats.setdefault(doc["vendor_id"], {})
            by_state[doc["status"]] = by_state.get(doc["status"], 0) + 1
        return stats

    async def count_by_state(self, states: Sequence[str]) -> dict[str, int]:
        """Tasks in each state, through the status index: the cost grows with the tasks in
        those states, so the backlog's are cheap and the done ones' are not."""
        return {state: await self.tasks.count_documents({"status": state}) for state in states}

    async def annotators_holding_leases(self) -> int:
        """How many people are working right now (the dashboard's "annotators active")."""
        holders = set()
        async for doc in self.tasks.find({"status": "leased"}, {"lease.annotator_id": 1}):
            holders.add((doc.get("lease") or {}).get("annotator_id"))
        return len(holders - {None})

    async def expire_leases(self) -> list[Doc]:
        """Return abandoned tasks to the pool; the old holder keeps the right to submit until
        someone else leases it. Returns the tasks now pending again."""
        now = utcnow()
        expired = await self.tasks.find(
            {"status": "leased", "lease.expires_at": {"$lt": now}}, {"_id": 1}
        ).to_list(None)
        if not expired:
            return []
        ids = [d["_id"] for d in expired]

        async def free(session: AsyncClientSession) -> None:
            await self.tasks.update_many(
                {"_id": {"$in": ids}, "status": "leased", "lease.expires_at": {"$lt": now}},
                {"$set": {"status": "pending", "pending_since": now}},
                session=session,
            )

        await self.db.transaction(free)
        return [d for d in await self.load_tasks(ids) if d["status"] == "pending"]

    # ----- replicas ------------------------------------------------------------------------

    async def live_replicas(self, replica_id: str, alive_s: float) -> list[str]:
        """Say this process is alive; the processes seen within `alive_s`, sorted."""
        now = utcnow()
        await self.replicas.update_one({"_id": replica_id}, {"$set": {"seen_at": now}}, upsert=True)
        docs = await self.replicas.find({}, {"seen_at": 1}).to_list(None)
        return sorted(d["_id"] for d in docs if d["seen_at"] > now - timedelta(seconds=alive_s))

    async def forget_replica(self, replica_id: str) -> None:
        await self.replicas.delete_one({"_id": replica_id})

    # ----- work limits ---------------------------------------------------------------------

    async def worked_today(self, vendor_id: str, annotator_id: str, day: str) -> float:
        doc = await self.worktime.find_one({"_id": f"{vendor_id}|{annotator_id}|{day}"})
        return float(doc["seconds"]) if doc else 0.0

    async def add_worked(self, seconds: dict[tuple[str, str, str], float]) -> None:
        """Add time worked per (vendor, annotator, day), from every replica's counters."""
        await self.worktime.bulk_write(
            [
                UpdateOne(
                    {"_id": f"{vendor_id}|{annotator_id}|{day}"},
                    {
                        "$inc": {"seconds": worked},
                        "$set": {"vendor_id": vendor_id, "annotator_id": annotator_id, "day": day},
                    },
                    upsert=True,
                )
                for (vendor_id, annotator_id, day), worked in seconds.items()
            ],
            ordered=False,
        )

    async def vendor_limits(self, vendor_id: str) -> VendorLimits:
        limits = VendorLimits()
        async for doc in self.limits.find({"vendor_id": vendor_id}):
            if doc["kind"] == "group":
                limits.groups[doc["name"]] = float(doc["daily_hours"])
                continue
            if doc.get("group") is not None:
                limits.members[doc["name"]] = doc["group"]
            if doc.get("daily_hours") is not None:
                limits.annotators[doc["name"]] = float(doc["daily_hours"])
        return limits

    async def set_limit(self, vendor_id: str, kind: str, name: str, values: Doc) -> None:
        async def work(session: AsyncClientSession) -> None:
            await self.limits.update_one(
                {"vendor_id": vendor_id, "kind": kind, "name": name},
                {"$set": {**values, "updated_at": utcnow()}},
                upsert=True,
                session=session,
            )
            await self.audit.record(
                session, "work_limit.set", f"{vendor_id}/{kind}/{name}", details=values
            )

        await self.db.transaction(work)


class LeaseLost(Conflict):
    def __init__(self) -> None:
        super().__init__("lease_lost", "the lease has expired and the task went to someone else")


class _GroupLeaseLost(Exception):
    """A submission in a group lost its lease: the group's transaction is aborted."""


@dataclass(frozen=True)
class Claim:
    task_id: str
    annotator_id: str
    vendor_id: str  # differs from the task's when idle capacity takes another vendor's backlog
    lease: Doc
    sibling_ids: list[str]

    @classmethod
    def new(cls, task: Doc, annotator_id: str, vendor_id: str, ttl_s: float) -> Claim:
        now = utcnow()
        return cls(
            task_id=task["_id"],
            annotator_id=annotator_id,
            vendor_id=vendor_id,
            lease={
                "id": secrets.token_hex(12),
                "annotator_id": annotator_id,
                "started_at": now,
                "expires_at": now + timedelta(seconds=ttl_s),
            },
            sibling_ids=[
                domain.task_id(task["item_id"], slot)
                for slot in range(int(task.get("overlap", 1)))
                if slot != task["slot"]
            ],
        )


@dataclass(frozen=True)
class Submit:
    task: Doc
    annotator_id: str
    lease_id: str
    annotation: Annotation
    submission_id: str

    def seconds_worked(self, now: datetime) -> float:
        lease = self.task.get("lease")
        return worked_seconds(lease["started_at"], now) if lease else 0.0

    def event(self, now: datetime) -> Envelope:
        task = self.task
        submitted = TaskSubmitted(
            task_id=task["_id"],
            submission_id=self.submission_id,
            item_id=task["item_id"],
            project_id=task["project_id"],
            batch_id=task["batch_id"],
            org_id=task["org_id"],
            vendor_id=task["vendor_id"],
            annotator_id=self.annotator_id,
            ontology_version=task["ontology_version"],
            image=task["image"],
            annotation=self.annotation,
            rework=task["rework"],
            seconds_worked=self.seconds_worked(now),
            gold_id=task.get("gold_id"),
        )
        return Envelope.wrap(
            submitted,
            org_ids=(task["org_id"], task["vendor_id"]),
            correlation_id=correlation_id.get(),
        )
