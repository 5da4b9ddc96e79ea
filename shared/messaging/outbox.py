"""The transactional outbox: events are saved with the state change, then relayed to the broker.

A store writes its state change and `Outbox.add(...)` in one Mongo transaction. The relay
publishes saved events with publisher confirms and only then deletes them, so a crash anywhere
between "saved" and "published" loses nothing; at worst an event goes out twice, which the
idempotent consumers absorb.

The events of one `add` are saved as one document: a transaction that commits fifty
submissions writes one outbox document, not fifty (on the embedded database each document
written costs about as much as its bytes many times over).

A document saved through a transaction of `ServiceDatabase.transaction` is also handed to the
relay in memory once the commit succeeded (`after_commit`), so the relay publishes it and
deletes it without reading the outbox first (a read per event, 6% of the database's
operations in the demo flow). The reads stay, as the safety net: each poll, at least every
`poll_s` while events flow, and after anything that may have kept a document from memory (a
failed publish, a full buffer).
"""

from __future__ import annotations

import asyncio
import logging
import time

from shared.events import Envelope
from shared.messaging import Broker
from shared.observability import EVENTS_PUBLISHED, OUTBOX_BACKLOG, service_name
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, after_commit, utcnow

log = logging.getLogger(__name__)

BACKLOG_EVERY_S = 5.0
IDLE_POLL_S = 5.0  # the longest wait between two reads of an outbox found empty
RELAY_PAGE = 100  # outbox documents read and published at a time
PUBLISH_SLICE = 500  # events published at once
COMMITTED_MAX = 1000  # documents held in memory for the relay; beyond, it reads the outbox


class Outbox:
    """Saves events inside the caller's transaction and relays them after commit."""

    def __init__(self, database: ServiceDatabase, broker: Broker, poll_s: float = 0.5) -> None:
        self.collection = database["outbox"]
        self.broker = broker
        self.poll_s = poll_s
        self._wake = asyncio.Event()
        self._committed: dict[str, Doc] = {}  # saved and committed, not yet relayed
        self._read_needed = True  # what was saved before this process started

    async def add(self, session: AsyncClientSession, *envelopes: Envelope) -> None:
        """Save events as part of the session's transaction (one document for all of them)."""
        if envelopes:
            doc = self.document(*envelopes)
            await self.collection.insert_one(doc, session=session)
            self.saved(session, doc)

    def saved(self, session: AsyncClientSession, doc: Doc) -> None:
        """The caller wrote `doc` in the session's transaction: relay it from memory once
        that commits."""
        after_commit(session, lambda: self._hold(doc))

    def _hold(self, doc: Doc) -> None:
        if len(self._committed) >= COMMITTED_MAX:  # the relay is behind (broker down)
            self._read_needed = True
            return
        self._committed[doc["_id"]] = doc

    @staticmethod
    def document(*envelopes: Envelope) -> Doc:
        """The outbox document holding these events, for a caller that writes it itself
        (together with other documents, in one command of its transaction)."""
        return {
            "_id": envelopes[0].event_id,
            "events": [
                {
                    "id": e.event_id,
                    "type": e.type.value,
                    "correlation_id": e.correlation_id,
                    "body": e.model_dump_json(),
                }
                for e in envelopes
            ],
            "at": utcnow(),
        }

    def notify(self) -> None:
        """Call after a commit that added events: the relay publishes them at once."""
        self._wake.set()

    async def relay_once(self, limit: int = RELAY_PAGE) -> int:
        """Publish the events of up to `limit` saved documents; returns how many documents
        went out (fewer than `limit`: the outbox was emptied)."""
        docs = await self.collection.find({}).limit(limit).to_list(limit)
        if not docs:
            OUTBOX_BACKLOG.labels(service_name.get()).set(0)
            return 0
        for doc in docs:  # relayed now: not again from memory
            self._committed.pop(doc["_id"], None)
        await self._publish(docs)
        return len(docs)

    async def relay_committed(self) -> int:
        """Publish what this process committed since the last relay, without reading the
        outbox; returns how many documents went out."""
        docs = list(self._committed.values())
        self._committed.clear()
        if docs:
            try:
                await self._publish(docs)
            except BaseException:
                self._read_needed = True  # they are still saved: the next read finds them
                raise
        return len(docs)

    async def _publish(self, docs: list[Doc]) -> None:
        """Publish the documents' events with confirms, then delete the documents."""
        events = [e for d in docs for e in _events_of(d)]
        # In slices: a page of documents may carry an import's 10,000 events, and publishing
        # them all at once held as many messages in memory (200 MB in ingest) for no speed.
        for start in range(0, len(events), PUBLISH_SLICE):
            await asyncio.gather(
                *(
                    self.broker.publish_raw(
                        e["type"], e["body"].encode(), e["id"], e.get("correlation_id")
                    )
                    for e in events[start : start + PUBLISH_SLICE]
                )
            )
        await self.collection.delete_many({"_id": {"$in": [d["_id"] for d in docs]}})
        for e in events:
            EVENTS_PUBLISHED.labels(service_name.get(), e["type"]).inc()

    async def measure_backlog(self) -> int:
        """Count the documents waiting to be relayed (the gauge behind alerts on a stuck
        relay)."""
        backlog = await self.collection.count_documents({})
        OUTBOX_BACKLOG.labels(service_name.get()).set(backlog)
        return backlog

    async def run(self) -> None:
        """Relay forever: woken by commits, polling as a safety net after crashes (what a
        process left when it died, a relay that failed). Idle, the poll backs off to
        `IDLE_POLL_S`: five services polling twice a second were a read every 0.1 s for
        nothing; a commit, or a read that found work, brings it back to `poll_s`."""
        measured = read_at = 0.0
        polled = True  # the first round reads: what an earlier process left
        wait_s = self.poll_s
        idle_s = max(self.poll_s, IDLE_POLL_S)
        while True:
            self._wake.clear()  # before relaying, so a commit during the relay is not missed
            try:
                if time.monotonic() - measured > BACKLOG_EVERY_S:
                    measured = time.monotonic()
                    await self.measure_backlog()
                relayed = await self.relay_committed()
                # Read on a poll (not on a wake-up: a commit's documents came in memory), when
                # memory may have missed something, and at least every `poll_s` regardless.
                if polled or self._read_needed or time.monotonic() - read_at >= self.poll_s:
                    self._read_needed = False
                    read_at = time.monotonic()
                    # A short page emptied the outbox: no second read to find it empty.
                    page = await self.relay_once()
                    relayed += page
                    while page == RELAY_PAGE:
                        page = await self.relay_once()
                        relayed += page
                wait_s = self.poll_s if relayed else min(wait_s * 2, idle_s)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox.relay_failed")
                self._read_needed = True
                wait_s = self.poll_s
                await asyncio.sleep(self.poll_s)
            try:
                await asyncio.wait_for(self._wake.wait(), wait_s)
                polled = False
            except TimeoutError:
                polled = True


def _events_of(doc: Doc) -> list[Doc]:
    """The events of an outbox document: packed, or one per document as saved before."""
    if "events" in doc:
        return list(doc["events"])
    return [{"id": doc["_id"], **{k: doc.get(k) for k in ("type", "correlation_id", "body")}}]
