"""The batch ledger: what goes into a batch, counted in the transaction that records it.

Items (with their `item.ingested` events), URL imports (an `import.urls_requested` for every
few URLs), the seal (with `batch.sealed` and the final count), another tool's shapes for its
items (`item.annotations_imported`) and the progress other services report: each is one
transaction over the batch's counters and another repository (items, imports), so it lives
here rather than in either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.ingest.domain import envelope
from services.ingest.repositories import BatchRepository, ImportRepository, ItemRepository
from services.ingest.repositories.imports import new_import
from shared.errors import Conflict
from shared.events import (
    BatchSealed,
    EventData,
    ImportUrlsRequested,
    ItemDropped,
    ItemIngested,
)
from shared.messaging.outbox import Outbox
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow

OUTBOX_CHUNK = 200
# URLs an `import.urls_requested` names: the 128 events a consumer holds (its prefetch) then
# name 2,048 URLs, more than the two import groups of 64 it runs at once (imports.py) take.
IMPORT_EVENT_URLS = 16


class BatchLedger:
    def __init__(
        self,
        db: ServiceDatabase,
        outbox: Outbox,
        batches: BatchRepository,
        items: ItemRepository,
        imports: ImportRepository,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.batches = batches
        self.items = items
        self.imports = imports

    async def add_items(self, batch: Doc, items: list[tuple[Doc, ItemIngested]]) -> None:
        """Record items whose objects are stored, with their events, in one transaction.

        Group commit: one multipart request is one transaction, whatever its file count.
        Raises DuplicateKeyError if another request recorded one of them first.
        """

        extra_units = sum(max(0, doc.get("clip_count", 1) - 1) for doc, _ in items)

        async def work(session: AsyncClientSession) -> None:
            await self.batches.count_into_open(session, batch, "received", len(items))
            if extra_units:
                await self.batches.count_into_open(session, batch, "extra_units", extra_units)
            await self.items.add(session, [doc for doc, _ in items])
            await self.outbox.add(
                session, *(envelope(event, batch["org_id"]) for _, event in items)
            )

        await self.db.transaction(work)
        self.outbox.notify()

    async def import_annotations(self, batch: Doc, events: Sequence[EventData]) -> None:
        """Every item's imported shapes published together, or none (OUTBOX_CHUNK events a
        document: a big import stays under the database's document size)."""

        async def work(session: AsyncClientSession) -> None:
            for start in range(0, len(events), OUTBOX_CHUNK):
                chunk = events[start : start + OUTBOX_CHUNK]
                await self.outbox.add(session, *(envelope(e, batch["org_id"]) for e in chunk))

        await self.db.transaction(work)
        self.outbox.notify()

    async def create_import(self, batch: Doc, urls: list[Doc]) -> Doc:
        """The import, one record per URL and an `import.urls_requested` for every
        IMPORT_EVENT_URLS of them, together."""
        doc, records = new_import(batch, urls)
        events = [
            ImportUrlsRequested(
                import_id=doc["_id"],
                url_ids=tuple(r["_id"] for r in records[start : start + IMPORT_EVENT_URLS]),
                batch_id=batch["_id"],
                project_id=batch["project_id"],
                org_id=batch["org_id"],
            )
            for start in range(0, len(records), IMPORT_EVENT_URLS)
        ]

        async def work(session: AsyncClientSession) -> None:
            await self.batches.count_into_open(session, batch, "imports", 1)
            await self.imports.add(session, doc, records)
            await self.outbox.add(session, *(envelope(e, batch["org_id"]) for e in events))

        await self.db.transaction(work)
        self.outbox.notify()
        return doc

    async def seal(self, batch: Doc) -> Doc:
        """Seal once; sealing a sealed batch returns it unchanged (safe to retry)."""
        sealed: Doc | None = None

        async def work(session: AsyncClientSession) -> None:
            nonlocal sealed
            sealed = await self.batches.mark_sealed(session, batch)
            if sealed is None:
                return
            unfinished = await self.imports.unfinished(session, batch["_id"])
            if unfinished is not None:
                raise Conflict(
                    "imports_pending",
                    f"URL import {unfinished['_id']} is still fetching; seal once it has finished",
                )
            received, units = await self.batches.take_count(session, batch)
            sealed["item_count"] = received
            event = BatchSealed(
                batch_id=sealed["_id"],
                project_id=sealed["project_id"],
                org_id=sealed["org_id"],
                item_count=received,
                unit_count=units,
            )
            await self.outbox.add(session, envelope(event, sealed["org_id"]))

        await self.db.transaction(work)
        if sealed is None:
            return await self.batches.get(None, batch["_id"])
        self.outbox.notify()
        return sealed

    async def mark_submitted(self, session: AsyncClientSession, items: Mapping[str, str]) -> None:
        """Items (item -> batch) submitted at least once, each counted once in its batch's
        progress."""
        await self.mark_progress(session, submitted=items)

    async def mark_accepted(self, session: AsyncClientSession, items: Mapping[str, str]) -> None:
        """Items (item -> batch) accepted, each counted once in its batch's progress."""
        await self.mark_progress(session, accepted=items)

    async def mark_progress(
        self,
        session: AsyncClientSession,
        submitted: Mapping[str, str] | None = None,
        accepted: Mapping[str, str] | None = None,
    ) -> None:
        """Items (item -> batch) submitted at least once and accepted, each counted once in
        its batch's progress: one count write a batch for both, as each write is a document
        another transaction could be writing too."""
        counts: dict[str, dict[str, int]] = {}
        for flag, items in (("submitted", submitted), ("accepted", accepted)):
            if items:
                for batch_id, n in (await self.items.flag_once(session, items, flag)).items():
                    counts.setdefault(batch_id, {})[flag] = n
        await self.batches.count_many(session, counts)

    async def mark_dropped(self, session: AsyncClientSession, event: ItemDropped) -> None:
        """An item taken out of its batch: counted once as dropped, and, when it had been
        submitted, as no longer in review."""
        dropped = {"reason": event.reason, "by": event.dropped_by, "at": utcnow()}
        item = await self.items.drop(session, event.item_id, dropped)
        if item is None:
            return
        await self.batches.count(session, {item["batch_id"]: 1}, "dropped")
        if item.get("submitted"):
            await self.batches.count(session, {item["batch_id"]: 1}, "dropped_submitted")

    async def mark_clips_accepted(
        self,
        session: AsyncClientSession,
        clips: Sequence[tuple[str, int, int]],
        batches: Mapping[str, str],
    ) -> None:
        """Clips of videos accepted, as (item, clip index, clips in all), with each video's
        batch: a video counts as accepted in its batch's progress once every clip is."""
        done = await self.items.accept_clips(session, clips)
        if done:
            await self.mark_accepted(session, {item_id: batches[item_id] for item_id in done})
