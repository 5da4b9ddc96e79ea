"""Dispatch's data: project versions, tasks, time worked, limits (database `<ns>_dispatch`).

Who holds a task lives in the claim chain (`chain.py`); this store keeps the tasks themselves
and what the chain does not need on its hot path."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from pymongo import UpdateOne

from services.dispatch import claims as chain
from services.dispatch import domain
from services.dispatch.worklimits import VendorLimits
from shared.domain.projects import ProjectReadModel
from shared.errors import NotFound, RetryLater
from shared.events import GoldUpdated, ItemIngested, ProjectUpserted, TaskRejected
from shared.runtime import Runtime
from shared.store.mongo import AsyncClientSession, Doc, utcnow

NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)
VERSION_CACHE_SIZE = 1000
PROJECT_CACHE_S = 5.0
# What the pool leaves out of the tasks it keeps: the parts a `next` answer rarely needs.
# A task that has them (`needs_full_read`) is read again once leased.
HEAVY_FIELDS = {"pre_annotation": 0, "comments": 0, "last_annotation": 0, "skips": 0}
# What tells whether a pool has seen a task in its present state (`pending_since` changes
# with every change the pool cares about).
STAMP_FIELDS = {"_id": 1, "pending_since": 1, "group": 1}
HANDLING_KEPT = 200  # recent handling times per project, for the estimate


def needs_full_read(task: Doc) -> bool:
    return bool(task.get("rework")) or task.get("has_pre_annotation", True)


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
        self.handling = runtime.db["handling_times"]
        self.limits = runtime.db["work_limits"]
        self.replicas = runtime.db["replicas"]
        self.gold = runtime.db["gold"]
        self.claims = runtime.db["claims"]
        self.groups = runtime.db["task_groups"]
        self.done = runtime.db["done"]
        self.counts = runtime.db["task_counts"]

    async def ensure_indexes(self) -> None:
        # What the pool reads (tasks that became pending since the last read) and the counts
        # by state. Every index costs each status change; `claims` has none but `_id`.
        await self.tasks.create_index([("status", 1), ("pending_since", 1)])
        # The open tasks, group by group (a full pool read); tasks never change group.
        await self.tasks.create_index([("group", 1)])
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
    ) -> list[Doc]:
        """One task per required annotation (the project's overlap); many items share one
        insert. Returns the tasks as written."""
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
        # Tasks made together share an open list (see claims.py), a short one: the cost of
        # taking an entry off grows with the list.
        groups = []
        for start in range(0, len(docs), GROUP_SIZE):
            members = docs[start : start + GROUP_SIZE]
            group = "grp_" + secrets.token_hex(10)
            for doc in members:
                doc["group"] = group
            entries = [chain.open_entry(d["_id"], 0) for d in members]
            groups.append({"_id": group, "open": entries, "at": utcnow()})
        await self.tasks.insert_many(docs, session=session)
        await self.groups.insert_many(groups, session=session)
        # Counted as made, in one of a few shards (concurrent creators rarely share one).
        await self.counts.update_one(
            {"_id": f"tasks:{secrets.randbelow(COUNT_SHARDS)}"},
            {"$inc": {"n": len(docs)}},
            upsert=True,
            session=session,
        )
        return docs

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
            has_pre_annotation=False,
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
                "has_pre_annotation": event.pre_annotation is not None,
                "image": event.image.model_dump(mode="json"),
                "status": "pending",
                # The claim chain's next free slot in this round (see claims.py).
                "next_slot": 0,
                "blocked_annotators": [],  # those who skipped it
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
        """Back to the pool, first for the annotator who made it, with the reviewer's words:
        a new round of the claim chain, open again on its group's list."""
        task = await self.tasks.find_one(
            {"_id": event.task_id}, {"rework": 1, "next_slot": 1, "group": 1}, session=session
        )
        if task is None:
            return
        round_ = int(task.get("rework", 0))
        keys = [chain.slot_key(event.task_id, round_, s) for s in range(task["next_slot"] + 2)]
        records = await self.claims.find({"_id": {"$in": keys}}, session=session).to_list(None)
        submitted = [r for r in records if r.get("submission_id") == event.submission_id]
        if not submitted:
            return  # a rejection of an older submission: it changes nothing now
        await self.tasks.update_one(
            {"_id": event.task_id, "rework": round_},
            {
                "$set": {
                    "status": "pending",
                    "next_slot": 0,
                    "preferred_annotator": event.annotator_id,
                    "preferred_until": utcnow()
                    + timedelta(seconds=self.settings.rework_exclusive_s),
                    "pending_since": utcnow(),
                    # Shown again with the rework, to fix rather than redo.
                    "last_annotation": submitted[0].get("annotation"),
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
        # The group may be gone (all its tasks were done): this brings it back.
        await self.groups.update_one(
            {"_id": task["group"]},
            {"$addToSet": {"open": chain.open_entry(event.task_id, round_ + 1)}},
            upsert=True,
            session=session,
        )

    # ----- the pool's reads ----------------------------------------------------------------

    async def open_entries(self, groups: Iterable[str] | None = None) -> set[str]:
        """The open task rounds (`<task>:<round>`) of some groups, or of all: on their
        group's open list and not yet done."""
        entries: set[str] = set()
        query: Doc = {} if groups is None else {"_id": {"$in": list(groups)}}
        async for group in self.groups.find(query, {"open": 1}):
            entries.update(group.get("open", []))
        return entries - await self._done_entries()

    async def load_pending(self) -> list[Doc]:
        """The open tasks, without the parts the pool leaves out. Leased tasks are among
        them (a claim of one meets its taken slot)."""
        groups: dict[str, set[str]] = {}
        async for group in self.groups.find({}, {"open": 1}):
            groups[group["_id"]] = set(group.get("open", []))
        wanted = set().union(*groups.values()) - await self._done_entries() if groups else set()
        names = [g for g, entries in groups.items() if entries & wanted]
        return [t for t in await self._pending_in(names) if _open_round(t) in wanted]

    async def load_changed(self, since: datetime, known: Callable[[Doc], bool]) -> list[Doc]:
        """The open tasks that became pending after `since`, less those `known` says the
        caller has seen in that state: a first read of their stamps alone (the embedded
        database spends half as long on it), then the rest of the few that are new."""
        query: Doc = {"status": "pending", "pending_since": {"$gt": since}}
        stamps = await self.tasks.find(query, STAMP_FIELDS).to_list(None)
        fresh = {s["_id"]: s.get("group", "") for s in stamps if not known(s)}
        if not fresh:
            return []
        if len(fresh) <= READ_CHUNK:
            changed = await self.tasks.find({"_id": {"$in": list(fresh)}}, HEAVY_FIELDS).to_list(
                None
            )
        else:  # tasks are made and freed in runs of neighbours, who share groups
            in_groups = await self._pending_in(sorted(set(fresh.values())))
            changed = [t for t in in_groups if t["_id"] in fresh]
        wanted = await self.open_entries({t.get("group", "") for t in changed})
        return [t for t in changed if _open_round(t) in wanted]

    async def _pending_in(self, groups: Sequence[str]) -> list[Doc]:
        """The pending tasks of some groups. Through the group index: on the embedded
        database a long `_id: {$in}` costs about a millisecond a task, an index read a tenth
        of that."""
        tasks: list[Doc] = []
        for start in range(0, len(groups), GROUP_READ_CHUNK):
            chunk = {"group": {"$in": list(groups[start : start + GROUP_READ_CHUNK])}}
            tasks.extend(
                await self.tasks.find({**chunk, "status": "pending"}, HEAVY_FIELDS).to_list(None)
            )
        return tasks

    async def _done_entries(self) -> set[str]:
        return {
            entry async for d in self.done.find({}, {"entries": 1}) for _, entry in d["entries"]
        }

    async def load_tasks(self, task_ids: Sequence[str]) -> list[Doc]:
        if not task_ids:
            return []
        return await self.tasks.find({"_id": {"$in": list(task_ids)}}).to_list(None)

    async def get_task(self, task_id: str) -> Doc | None:
        return await self.tasks.find_one({"_id": task_id})

    # ----- figures ---------------------------------------------------------------------------

    async def recent_handling_times(self, project_id: str) -> list[float]:
        doc = await self.handling.find_one({"_id": project_id})
        return [float(s) for s in doc["seconds"]] if doc else []

    async def add_handling_times(self, seconds: dict[str, list[float]]) -> None:
        """Keep each project's latest handling times (one small write per project)."""
        await self.handling.bulk_write(
            [
                UpdateOne(
                    {"_id": project_id},
                    {"$push": {"seconds": {"$each": values, "$slice": -HANDLING_KEPT}}},
                    upsert=True,
                )
                for project_id, values in seconds.items()
            ],
            ordered=False,
        )

    async def project_task_stats(self, project_id: str) -> dict[str, dict[str, int]]:
        """Tasks of a project by vendor and state: an open task whose next slot holds a
        lease is `leased`, one off the open lists is `submitted`."""
        open_entries = await self.open_entries()
        docs = await self.tasks.find(
            {"project_id": project_id},
            {"vendor_id": 1, "status": 1, "rework": 1, "next_slot": 1},
        ).to_list(None)
        pending = {
            chain.slot_key(d["_id"], d.get("rework", 0), d.get("next_slot", 0)): d["_id"]
            for d in docs
            if d["status"] == "pending"
            and chain.open_entry(d["_id"], d.get("rework", 0)) in open_entries
        }
        leased = {pending[k] for k in await self._leased(list(pending))}
        stats: dict[str, dict[str, int]] = {}
        for doc in docs:
            if doc["status"] == "flagged":
                state = "flagged"
            elif doc["_id"] in leased:
                state = "leased"
            elif doc["_id"] in pending.values():
                state = "pending"
            else:
                state = "submitted"
            by_state = stats.setdefault(doc["vendor_id"], {})
            by_state[state] = by_state.get(state, 0) + 1
        return stats

    async def _leased(self, keys: list[str]) -> set[str]:
        leased: set[str] = set()
        for start in range(0, len(keys), READ_CHUNK):
            found = self.claims.find(
                {"_id": {"$in": keys[start : start + READ_CHUNK]}, "kind": "lease"}, {"_id": 1}
            )
            leased.update([d["_id"] async for d in found])
        return leased

    async def count_by_state(self, pending: int) -> dict[str, int]:
        """Tasks in each state, at a cost that does not grow with them: `pending` as the
        caller's pool holds them, `leased` as the live processes report, flagged through
        the status index, and the rest submitted (from the counts kept at creation). Reading
        the open lists or the collection's size read every task on the embedded database,
        a stall of seconds at 200,000 tasks."""
        live = await self.live_replica_docs(REPLICA_REPORT_S)
        leased = sum(int(d.get("leases", 0)) for d in live)
        flagged = await self.tasks.count_documents({"status": "flagged"})
        total = sum([int(d["n"]) async for d in self.counts.find({})])
        return {
            "pending": pending,
            "leased": leased,
            "flagged": flagged,
            "submitted": max(0, total - pending - leased - flagged),
        }

    async def count_existing_tasks(self) -> None:
        """Start the creation counts of a deployment whose tasks predate them (once)."""
        if await self.counts.find_one({}) is None and (n := await self.tasks.count_documents({})):
            await self.counts.update_one(
                {"_id": "tasks:0"}, {"$setOnInsert": {"n": n}}, upsert=True
            )

    async def annotators_holding_leases(self) -> int:
        """How many people are working right now (the dashboard's "annotators active")."""
        live = await self.live_replica_docs(REPLICA_REPORT_S)
        return len({h for d in live for h in d.get("holders", [])})

    # ----- replicas ------------------------------------------------------------------------

    async def beat(
        self,
        replica_id: str,
        leases: int,
        holders: Sequence[str],
        journals: Sequence[int],
        journal_next: int,
    ) -> None:
        """Say this process is alive, what it holds (for the gauges), and which of its journal
        documents still matter: the ones listed, and any it writes from `journal_next` on."""
        await self.replicas.update_one(
            {"_id": replica_id},
            {
                "$set": {
                    "seen_at": utcnow(),
                    "leases": leases,
                    "holders": list(holders),
                    "journals": list(journals),
                    "journal_next": journal_next,
                },
                "$unset": {"adopted_by": ""},
            },
            upsert=True,
        )

    async def replica(self, replica_id: str) -> Doc | None:
        return await self.replicas.find_one({"_id": replica_id})

    async def live_replica_docs(self, alive_s: float) -> list[Doc]:
        since = utcnow() - timedelta(seconds=alive_s)
        return await self.replicas.find({"seen_at": {"$gt": since}}).to_list(None)

    async def live_replicas(self, alive_s: float) -> list[str]:
        """The processes seen within `alive_s`, sorted."""
        return sorted(d["_id"] for d in await self.live_replica_docs(alive_s))

    async def silent_replicas(self, silent_s: float) -> list[str]:
        """Processes not heard from for `silent_s`: dead, or stopped and handing over."""
        before = utcnow() - timedelta(seconds=silent_s)
        docs = await self.replicas.find({"seen_at": {"$lt": before}}, {"_id": 1}).to_list(None)
        return [d["_id"] for d in docs]

    async def adopt(
        self, replica_id: str, adopter_id: str, silent_s: float, adoption_s: float
    ) -> bool:
        """Take over a silent process's leases; True for the one process that wins. A
        takeover not finished within `adoption_s` (the adopter died too) is up for grabs."""
        now = utcnow()
        won = await self.replicas.update_one(
            {
                "_id": replica_id,
                "seen_at": {"$lt": now - timedelta(seconds=silent_s)},
                "$or": [
                    {"adopted_by": None},
                    {"adopted_at": {"$lt": now - timedelta(seconds=adoption_s)}},
                ],
            },
            {"$set": {"adopted_by": adopter_id, "adopted_at": now}},
        )
        return won.modified_count == 1

    async def give_up_adoption(self, replica_id: str, adopter_id: str) -> None:
        await self.replicas.update_one(
            {"_id": replica_id, "adopted_by": adopter_id}, {"$set": {"adopted_by": None}}
        )

    async def forget_replica(self, replica_id: str) -> None:
        await self.replicas.delete_one({"_id": replica_id})

    async def hand_over(self, replica_id: str) -> None:
        """A process stopping: another takes over its leases at once, as if it had died."""
        await self.replicas.update_one(
            {"_id": replica_id}, {"$set": {"seen_at": datetime(1970, 1, 1, tzinfo=UTC)}}
        )

    # ----- work limits ---------------------------------------------------------------------

    async def worked_today(self, vendor_id: str, day: str) -> dict[str, float]:
        """Seconds worked per annotator of a vendor on a UTC day."""
        doc = await self.worktime.find_one({"_id": f"{vendor_id}|{day}"})
        return {_unfield(k): float(v) for k, v in (doc or {}).get("seconds", {}).items()}

    async def add_worked(self, seconds: dict[tuple[str, str, str], float]) -> None:
        """Add time worked per (vendor, annotator, day), from every replica's counters: one
        write per vendor and day."""
        by_doc: dict[tuple[str, str], dict[str, float]] = {}
        for (vendor_id, annotator_id, day), worked in seconds.items():
            by_doc.setdefault((vendor_id, day), {})[f"seconds.{_field(annotator_id)}"] = worked
        await self.worktime.bulk_write(
            [
                UpdateOne(
                    {"_id": f"{vendor_id}|{day}"},
                    {"$inc": inc, "$set": {"vendor_id": vendor_id, "day": day}},
                    upsert=True,
                )
                for (vendor_id, day), inc in by_doc.items()
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


# How recently a process must have said what it holds to count in the gauges.
REPLICA_REPORT_S = 10.0
# Ids per `$in` read: the embedded database matches each document against the whole list,
# so long lists cost more per id (about 0.3 ms an id at 50, 1 ms at 500).
READ_CHUNK = 50
GROUP_READ_CHUNK = 20  # groups (of up to GROUP_SIZE tasks) per read
GROUP_SIZE = 50  # tasks per open list
COUNT_SHARDS = 8  # documents the count of tasks made is spread over


def _open_round(task: Doc) -> str:
    return chain.open_entry(task["_id"], task.get("rework", 0))


def _field(name: str) -> str:
    """An annotator id as a field name (no dots, no leading dollar)."""
    return name.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def _unfield(name: str) -> str:
    return name.replace("%2E", ".").replace("%24", "$").replace("%25", "%")
