"""A batch's progress counts each item once: submitted and accepted flags on real SecantusDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import pytest

from services.ingest.consumers import handlers
from services.ingest.deps import IngestParts
from shared.events import Envelope, RoutingKey
from shared.runtime import Runtime
from shared.settings import Settings
from shared.store.mongo import AsyncClientSession, utcnow
from tests.support import bench_accepted, bench_submitted, service_runtime


@pytest.fixture
async def ingest(settings: Settings) -> AsyncIterator[tuple[Runtime, IngestParts]]:
    items = [(f"itm_a{i}", "bat_a") for i in range(4)] + [(f"itm_b{i}", "bat_b") for i in range(3)]
    async with service_runtime("ingest", settings) as runtime:
        parts = IngestParts.build(runtime)
        await parts.items.ensure_indexes()
        await parts.batches.ensure_indexes()
        await parts.items.items.insert_many(
            [
                {"_id": item_id, "batch_id": batch_id, "status": "stored", "created_at": utcnow()}
                for item_id, batch_id in items
            ]
        )
        yield runtime, parts


async def test_each_item_counts_once_in_its_own_batch(
    ingest: tuple[Runtime, IngestParts],
) -> None:
    runtime, parts = ingest

    async def submitted(items: dict[str, str]) -> None:
        async def work(session: AsyncClientSession) -> None:
            await parts.ledger.mark_submitted(session, items)

        await runtime.db.transaction(work)

    await parts.items.items.update_one({"_id": "itm_a3"}, {"$set": {"dropped": {"by": "ops"}}})
    await submitted({"itm_a0": "bat_a", "itm_a1": "bat_a", "itm_b0": "bat_b"})
    # Submitted again (a second annotator, a redelivery), with new ones and a dropped one.
    await submitted({"itm_a0": "bat_a", "itm_a2": "bat_a", "itm_a3": "bat_a", "itm_b0": "bat_b"})
    # An event naming the wrong batch counts nowhere.
    await submitted({"itm_b1": "bat_a"})

    a, b = await parts.batches.progress("bat_a"), await parts.batches.progress("bat_b")
    assert (a["submitted"], b["submitted"]) == (3, 1)
    flagged = await parts.items.items.find({"submitted": True}, {"_id": 1}).to_list(None)
    assert sorted(doc["_id"] for doc in flagged) == ["itm_a0", "itm_a1", "itm_a2", "itm_b0"]

    async def accepted(session: AsyncClientSession) -> None:
        await parts.ledger.mark_accepted(session, {"itm_a0": "bat_a", "itm_b0": "bat_b"})

    await runtime.db.transaction(accepted)
    await runtime.db.transaction(accepted)
    a, b = await parts.batches.progress("bat_a"), await parts.batches.progress("bat_b")
    assert (a["accepted"], b["accepted"]) == (1, 1)


async def test_a_redelivered_progress_event_counts_once_with_no_processed_marker(
    ingest: tuple[Runtime, IngestParts],
) -> None:
    """The consumers of submissions and acceptances set a flag only where it is not set, so a
    redelivery changes nothing without a processed marker (none is written)."""
    runtime, parts = ingest
    consume = handlers(runtime.db, parts.ledger, parts.batches, parts.deletions)
    submitted = bench_submitted(1).model_copy(update={"item_id": "itm_a0", "batch_id": "bat_a"})
    accepted = bench_accepted(1).model_copy(update={"item_id": "itm_a0", "batch_id": "bat_a"})
    for key, event in (
        (RoutingKey.TASK_SUBMITTED, submitted),
        (RoutingKey.ITEM_ACCEPTED, accepted),
    ):
        envelope = Envelope.wrap(event, org_ids=(event.org_id,))
        await consume[key](envelope)
        await consume[key](envelope)  # redelivered
    progress = await parts.batches.progress("bat_a")
    assert (progress["submitted"], progress["accepted"]) == (1, 1)
    assert await runtime.db.processed.count_documents({}) == 0


async def test_an_items_submission_and_acceptance_arriving_together_are_counted_in_one_write(
    ingest: tuple[Runtime, IngestParts], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Submissions and acceptances that arrive at the same moment share one group: one
    transaction flags and counts both (two groups in flight wrote the same items and counter
    shards, and conflicted)."""
    runtime, parts = ingest
    writes: list[tuple[list[str], list[str]]] = []
    mark_progress = parts.ledger.mark_progress

    async def spy(
        session: AsyncClientSession,
        submitted: Mapping[str, str] | None = None,
        accepted: Mapping[str, str] | None = None,
    ) -> None:
        writes.append((sorted(submitted or {}), sorted(accepted or {})))
        await mark_progress(session, submitted=submitted, accepted=accepted)

    monkeypatch.setattr(parts.ledger, "mark_progress", spy)
    consume = handlers(runtime.db, parts.ledger, parts.batches, parts.deletions)
    envelopes = []
    for i in range(3):
        ids = {"item_id": f"itm_a{i}", "batch_id": "bat_a"}
        for key, event in (
            (RoutingKey.TASK_SUBMITTED, bench_submitted(i).model_copy(update=ids)),
            (RoutingKey.ITEM_ACCEPTED, bench_accepted(i).model_copy(update=ids)),
        ):
            envelopes.append((key, Envelope.wrap(event, org_ids=(event.org_id,))))
    await asyncio.gather(*(consume[key](envelope) for key, envelope in envelopes))

    items = ["itm_a0", "itm_a1", "itm_a2"]
    assert writes == [(items, items)]
    progress = await parts.batches.progress("bat_a")
    assert (progress["submitted"], progress["accepted"]) == (3, 3)
    shards = await parts.batches.counters.find({"batch_id": "bat_a"}).to_list(None)
    assert [(s["submitted"], s["accepted"]) for s in shards] == [(3, 3)]
