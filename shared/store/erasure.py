"""Erasure: what one service removes when a client deletes an item, a batch or a project (the
operator an organisation), and the tombstones that keep late events from bringing it back.

Every service declares an `ErasurePlan`: its collections, the fields in each that name the
organisation, project, batch and item, and the objects a record points to. On
`deletion.requested` the service counts what the deletion reaches, removes the objects
(idempotent: a redelivery removes nothing twice), then, in one transaction with the event's
processed marker, deletes the records, writes a tombstone per deleted id and publishes
`deletion.applied` with the counts. A crash anywhere redoes the whole step; the counts come
from the records, which stay until that transaction commits, so the report is the same.

A deletion of some parts only (`DeletionRequested.parts` without "records": a project's
retention of media or packages) removes the objects of the collections holding those parts
and keeps the records, each marked `<part>_removed_at`; nothing is tombstoned.

Tombstones keep only the SHA-256 of a deleted id (a scan for the id finds nothing) and when
it was deleted: an event about that id made before then (still in a queue, or in another
service's outbox) is acknowledged and dropped; one made after (the same bytes pushed again,
which make the same item id) is applied as usual. They are kept as long as the processed
markers (`processed_events_retention_s`): no event waits longer than that.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.events import DeletionApplied, DeletionPart, DeletionRequested, Envelope, RoutingKey
from shared.messaging import Handler
from shared.messaging.handlers import apply_once
from shared.messaging.outbox import Outbox
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow
from shared.store.storage import ObjectStorage

log = logging.getLogger(__name__)

TOMBSTONES = "tombstones"
REFRESH_S = 5.0  # how soon a process learns of a deletion another process applied
ObjectRef = tuple[str, str]  # (bucket, key)
Level = Literal["project", "batch", "item"]
# org, project, batch and item all None: a collection reached only by `linked` or `prefixed`.
NONE = (None, None, None, None)


def id_hash(value: str) -> str:
    """How a tombstone names a deleted id: its SHA-256, never the id itself."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class Erasable:
    """One collection and the fields in it that name what a deletion reaches (None: the
    collection does not keep that id). `linked`: (a field here, another collection of the
    plan, a field there): records kept by something another record names, such as a task's
    lease records by the task's id. `prefixed`: (a field, the level of the id it starts
    with): composite ids such as "<project>|<vendor>|<annotator>" or "<batch>/<sequence>".
    `whole_batch`: an item's deletion removes its batch's records too (a
    delivery package holds every item of its batch). `objects`: the objects a record points
    to; `content`: the field with the SHA-256 of a record's media."""

    collection: str
    org: str | None = "org_id"
    project: str | None = "project_id"
    batch: str | None = "batch_id"
    item: str | None = "item_id"
    linked: tuple[str, str, str] | None = None
    prefixed: tuple[str, Level] | None = None
    whole_batch: bool = False
    objects: Callable[[Doc], Iterable[ObjectRef]] | None = None
    content: str | None = None
    listed: bool = False  # its records are read, for the plan's `extra_objects`
    part: DeletionPart = "media"  # what its objects are: media, or delivery packages

    def query(self, event: DeletionRequested, linked: Mapping[str, list[Any]]) -> Doc | None:
        """The records of this collection the deletion reaches (`linked`: the values of the
        linked fields, "<collection>.<field>", in the records it reaches there); None when
        none can be."""
        reach: list[Doc] = []
        wide = {"org": 0, "project": 1, "batch": 2, "item": 3}[event.scope]
        if self.org and wide <= 0:
            reach.append({self.org: event.org_id})
        if self.project and wide <= 1 and event.project_ids:
            reach.append({self.project: {"$in": list(event.project_ids)}})
        if self.batch and (wide <= 2 or self.whole_batch) and event.batch_ids:
            reach.append({self.batch: {"$in": list(event.batch_ids)}})
        if self.item and event.item_ids:
            reach.append({self.item: {"$in": list(event.item_ids)}})
        if self.prefixed:
            ids = _ids_at(event, self.prefixed[1])
            if ids:
                alternatives = "|".join(re.escape(i) for i in ids)
                reach.append({self.prefixed[0]: {"$regex": f"^({alternatives})[|:/]"}})
        if self.linked:
            values = linked.get(f"{self.linked[1]}.{self.linked[2]}")
            if values:
                reach.append({self.linked[0]: {"$in": values}})
        if not reach:
            return None
        return reach[0] if len(reach) == 1 else {"$or": reach}


def _ids_at(event: DeletionRequested, level: Level) -> tuple[str, ...]:
    """The deleted ids at one level: a project's deletion names its batches too, but a
    batch's deletion does not delete its project."""
    wide = {"org": 0, "project": 1, "batch": 2, "item": 3}
    if wide[event.scope] > wide[level]:
        return ()
    return {"project": event.project_ids, "batch": event.batch_ids, "item": event.item_ids}[level]


@dataclass(frozen=True)
class Removal:
    """What a deletion removes from one service, found before anything is removed."""

    queries: dict[str, Doc]
    linked: dict[str, list[Any]]
    found: dict[str, list[Doc]]  # the records read (collections with objects/content/listed)
    records: dict[str, int]
    objects: list[ObjectRef]
    content_sha256: list[str]


Step = Callable[[AsyncClientSession, DeletionRequested, Removal], Awaitable[int]]

# Objects that other records, not deleted, still point to (content-addressed media shared
# by two projects of one organisation): kept.
StillUsed = Callable[
    [AsyncClientSession, DeletionRequested, list[ObjectRef]], Awaitable[set[ObjectRef]]
]


@dataclass(frozen=True)
class ErasurePlan:
    """A service's collections as a deletion sees them (one that `linked` names comes
    before the collections linked to it)."""

    collections: Sequence[Erasable]
    still_used: StillUsed | None = None
    # Objects found otherwise than through a record's fields (under a prefix, say), given
    # the records found of the collections that have `objects`, `content` or `listed`.
    extra_objects: Callable[[Mapping[str, list[Doc]]], Awaitable[list[ObjectRef]]] | None = None
    # More to do in the deletion's transaction, before the records go and after (counts
    # to keep right, lists to take ids off); each returns how many records it changed.
    before: Step | None = None
    then: Step | None = None
    # Once committed: what this process holds in memory of what went (a pool of tasks).
    after: Callable[[DeletionRequested, Removal], Awaitable[None]] | None = None


class Tombstones:
    """The ids this service deleted (hashed), in memory, refreshed from the database every
    few seconds (another process of the service may have written them)."""

    def __init__(self, db: ServiceDatabase) -> None:
        self.collection = db[TOMBSTONES]
        self._deleted: dict[str, datetime] = {}
        self._loaded_at = 0.0

    async def refresh(self, force: bool = False) -> None:
        now = asyncio.get_running_loop().time()
        if not force and now - self._loaded_at < REFRESH_S:
            return
        docs = await self.collection.find({}, {"at": 1}).to_list(None)
        self._deleted = {d["_id"]: d["at"] for d in docs}
        self._loaded_at = now

    def add(self, hashes: Iterable[str], at: datetime) -> None:
        for h in hashes:
            self._deleted[h] = at

    def deleted(self, value: str) -> bool:
        """Whether an id (never used again, such as a project's) was deleted at all."""
        return id_hash(value) in self._deleted

    def covers(self, envelope: Envelope) -> bool:
        """Whether the event is about something deleted after the event was made."""
        if envelope.type in (RoutingKey.DELETION_REQUESTED, RoutingKey.DELETION_APPLIED):
            return False
        return self.covers_record(envelope.data, envelope.occurred_at)

    def covers_record(self, record: Mapping[str, Any], made: datetime) -> bool:
        """Whether a record (an event's payload, a task) names an item, batch, project or
        organisation deleted after `made`."""
        if not self._deleted:
            return False
        made = made.replace(tzinfo=None)
        for name in ("item_id", "batch_id", "project_id", "org_id"):
            value = record.get(name)
            if isinstance(value, str):
                at = self._deleted.get(id_hash(value))
                if at is not None and at.replace(tzinfo=None) >= made:
                    return True
        return False

    def guard(self, handler: Handler) -> Handler:
        """The handler, skipping events about what was deleted after they were made."""

        async def guarded(envelope: Envelope) -> None:
            await self.refresh()
            if self.covers(envelope):
                log.info(
                    "erasure.event_dropped",
                    extra={"event": envelope.event_id, "type": envelope.type.value},
                )
                return
            await handler(envelope)

        return guarded


class Eraser:
    """Applies `deletion.requested` to one service, by its plan."""

    def __init__(
        self,
        service: str,
        db: ServiceDatabase,
        storage: ObjectStorage,
        outbox: Outbox,
        plan: ErasurePlan,
        tombstones: Tombstones,
    ) -> None:
        self.service = service
        self.db = db
        self.storage = storage
        self.outbox = outbox
        self.plan = plan
        self.tombstones = tombstones
        self._applied: dict[str, Removal] = {}  # committed, its `after` not run yet

    def handler(self) -> Handler:
        return apply_once(self.db, DeletionRequested, self.apply, after=self._after)

    async def _after(self, event: DeletionRequested) -> None:
        self.outbox.notify()
        removal = self._applied.pop(event.deletion_id, None)
        if removal is not None and self.plan.after is not None:
            await self.plan.after(event, removal)

    async def find(self, session: AsyncClientSession, event: DeletionRequested) -> Removal:
        linked = await self._linked(session, event)
        queries: dict[str, Doc] = {}
        records: dict[str, int] = {}
        found: dict[str, list[Doc]] = {}
        objects: list[ObjectRef] = []
        content: list[str] = []
        for erasable in self.plan.collections:
            collection = self.db[erasable.collection]
            # An item's few links are cheap; a wider deletion follows links only where needed.
            links = event.scope == "item" or await self._has_legacy(session, erasable)
            query = erasable.query(event, linked if links else {})
            if query is None:
                continue
            if erasable.objects is not None or erasable.content is not None or erasable.listed:
                listed = await collection.find(query, session=session).to_list(None)
                found[erasable.collection] = listed
                count = len(listed)
                removes = erasable.part in event.parts
                for doc in listed:
                    if erasable.objects is not None and removes:
                        objects.extend(erasable.objects(doc))
                    if erasable.content is not None and doc.get(erasable.content) and removes:
                        content.append(str(doc[erasable.content]))
            else:
                count = await collection.count_documents(query, session=session)
            queries[erasable.collection] = query
            records[erasable.collection] = count
        if self.plan.extra_objects is not None and "media" in event.parts:
            objects.extend(await self.plan.extra_objects(found))
        unique = sorted(set(objects))
        if self.plan.still_used is not None and unique:
            kept = await self.plan.still_used(session, event, unique)
            unique = [o for o in unique if o not in kept]
        return Removal(queries, linked, found, records, unique, sorted(set(content)))

    async def _has_legacy(self, session: AsyncClientSession, erasable: Erasable) -> bool:
        """Whether a linked collection holds records without its own project field (written
        before it had one): only those need the link, a long `$in` that the embedded
        database answers slowly."""
        if erasable.linked is None:
            return False
        if erasable.project is None:
            return True
        old = {erasable.project: None}
        return (
            await self.db[erasable.collection].find_one(old, {"_id": 1}, session=session)
            is not None
        )

    async def _linked(
        self, session: AsyncClientSession, event: DeletionRequested
    ) -> dict[str, list[Any]]:
        """The values of the fields other collections are linked by ("<collection>.<field>"),
        in the records the deletion reaches there (read before any is deleted)."""
        wanted: dict[str, set[str]] = {}
        for erasable in self.plan.collections:
            if erasable.linked:
                wanted.setdefault(erasable.linked[1], set()).add(erasable.linked[2])
        values: dict[str, list[Any]] = {}
        for name, fields in wanted.items():
            source = next(c for c in self.plan.collections if c.collection == name)
            query = source.query(event, values)
            if query is None:
                continue
            found: dict[str, set[Any]] = {f: set() for f in fields}
            rows = self.db[name].find(query, dict.fromkeys(fields, 1), session=session)
            async for row in rows:
                for f in fields:
                    if row.get(f) is not None:
                        found[f].add(row[f])
            values |= {f"{name}.{f}": sorted(v) for f, v in found.items()}
        return values

    async def apply(self, session: AsyncClientSession, event: DeletionRequested) -> None:
        removal = await self.find(session, event)
        await remove_objects(self.storage, removal.objects)
        if "records" not in event.parts:
            await self._report(session, event, removal, await self._mark(session, event, removal))
            return
        changed = 0
        if self.plan.before is not None:
            changed += await self.plan.before(session, event, removal)
        for name, query in removal.queries.items():
            if removal.records.get(name):
                await self.db[name].delete_many(query, session=session)
        if self.plan.then is not None:
            changed += await self.plan.then(session, event, removal)
        if changed:
            removal.records["(updated)"] = changed
        now = utcnow()
        targets = tombstoned(event)
        for hashed in targets:
            await self.db[TOMBSTONES].update_one(
                {"_id": hashed},
                {"$setOnInsert": {"at": now, "deletion": event.deletion_id}},
                upsert=True,
                session=session,
            )
        await self._report(session, event, removal, removal.records, now)
        self.tombstones.add(targets, now)
        self._applied[event.deletion_id] = removal

    async def _mark(
        self, session: AsyncClientSession, event: DeletionRequested, removal: Removal
    ) -> dict[str, int]:
        """Some parts removed, the records kept: those whose objects went are marked
        (`<part>_removed_at`); how many per collection, as "<collection> (<part> removed)"."""
        marked: dict[str, int] = {}
        now = utcnow()
        for erasable in self.plan.collections:
            query = removal.queries.get(erasable.collection)
            if erasable.objects is None or erasable.part not in event.parts or query is None:
                continue
            result = await self.db[erasable.collection].update_many(
                query, {"$set": {f"{erasable.part}_removed_at": now}}, session=session
            )
            if result.matched_count:
                marked[f"{erasable.collection} ({erasable.part} removed)"] = result.matched_count
        return marked

    async def _report(
        self,
        session: AsyncClientSession,
        event: DeletionRequested,
        removal: Removal,
        records: Mapping[str, int],
        now: datetime | None = None,
    ) -> None:
        """`deletion.applied`, in the deletion's transaction."""
        now = now or utcnow()
        buckets: dict[str, int] = {}
        for bucket, _ in removal.objects:
            buckets[bucket] = buckets.get(bucket, 0) + 1
        applied = DeletionApplied(
            deletion_id=event.deletion_id,
            service=self.service,
            org_id=event.org_id,
            records={k: v for k, v in records.items() if v},
            objects=buckets,
            objects_sha256=objects_digest(removal.objects),
            content_sha256=tuple(removal.content_sha256),
            applied_at=now,
        )
        await self.outbox.add(session, Envelope.wrap(applied, org_ids=(event.org_id,)))
        log.info(
            "erasure.applied",
            extra={
                "deletion": event.deletion_id,
                "parts": list(event.parts),
                "records": sum(records.values()),
                "objects": len(removal.objects),
            },
        )


def tombstoned(event: DeletionRequested) -> list[str]:
    """The ids whose late events must be dropped: the deletion's target and what it names
    at its own width (a batch's deletion: the batch; a project's: its batches too)."""
    ids: set[str] = {event.target_id}
    if event.scope in ("org", "project"):
        ids |= set(event.project_ids) | set(event.batch_ids)
    if event.scope == "batch":
        ids |= set(event.batch_ids)
    if event.scope == "item":
        ids |= set(event.item_ids)
    return sorted(id_hash(i) for i in ids)


def objects_digest(objects: Sequence[ObjectRef]) -> str:
    """One SHA-256 over the removed objects' names (bucket/key, sorted, a line each): the
    certificate says which objects went without listing every key."""
    lines = "".join(f"{bucket}/{key}\n" for bucket, key in sorted(objects))
    return hashlib.sha256(lines.encode()).hexdigest()


async def remove_objects(storage: ObjectStorage, objects: Sequence[ObjectRef]) -> None:
    """Remove objects, many to a request per bucket; a missing one is not an error."""
    by_bucket: dict[str, list[str]] = {}
    for bucket, key in objects:
        by_bucket.setdefault(bucket, []).append(key)
    for bucket, keys in by_bucket.items():
        await storage.remove_many(bucket, keys)
