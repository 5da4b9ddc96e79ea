"""The outbox against real SecantusDB and RabbitMQ: state and event commit or vanish together;
and the transaction helpers it stands on (`apply_once`, `modify_by_id`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest

from shared.events import BatchSealed, Envelope, ItemDropped, TokenRevoked
from shared.messaging import Broker, QueueNames
from shared.messaging import outbox as outbox_module
from shared.messaging.handlers import KeyedWrites, apply_once_in_groups
from shared.messaging.outbox import Outbox
from shared.settings import Settings
from shared.store.mongo import (
    AsyncClientSession,
    Doc,
    ServiceDatabase,
    connect_mongo,
    modify_by_id,
)


def sealed(batch_id: str) -> Envelope:
    return Envelope.wrap(BatchSealed(batch_id=batch_id, project_id="p", org_id="o", item_count=3))


@pytest.fixture
async def parts(settings: Settings) -> AsyncIterator[tuple[ServiceDatabase, Broker]]:
    client = connect_mongo(settings)
    broker = Broker(settings)
    await broker.connect()
    yield ServiceDatabase(client, settings.database_name("ingest")), broker
    await broker.close()
    await client.close()


async def queued_ids(broker: Broker, settings: Settings, service: str = "export") -> list[str]:
    """Drain a service's queue and return the event ids in it."""
    channel = await broker.channel()
    queue = await channel.get_queue(QueueNames(settings.namespace, service).main)
    ids = []
    while (message := await queue.get(fail=False, timeout=2)) is not None:
        ids.append(Envelope.model_validate_json(message.body).event_id)
        await message.ack()
    await channel.close()
    return ids


async def save_unrelayed(db: ServiceDatabase, broker: Broker, *events: Envelope) -> None:
    """Events saved by a process that died before relaying them (its relay never woken)."""

    async def work(session: AsyncClientSession) -> None:
        await Outbox(db, broker).add(session, *events)

    await db.transaction(work)


async def until_relayed(db: ServiceDatabase, seconds: float) -> None:
    """Wait up to `seconds` for the outbox to be emptied (the caller asserts what went out)."""
    for _ in range(round(seconds / 0.1)):
        if await db["outbox"].count_documents({}) == 0:
            return
        await asyncio.sleep(0.1)


async def test_state_and_event_commit_together(
    parts: tuple[ServiceDatabase, Broker], settings: Settings
) -> None:
    db, broker = parts
    outbox = Outbox(db, broker)
    event = sealed("b1")

    async def work(session: AsyncClientSession) -> None:
        await db["batches"].insert_one({"_id": "b1", "status": "sealed"}, session=session)
        await outbox.add(session, event)

    await db.transaction(work)
    assert await db["batches"].find_one({"_id": "b1"}) is not None
    assert await outbox.relay_once() == 1
    assert await db["outbox"].count_documents({}) == 0
    assert await queued_ids(broker, settings) == [event.event_id]


async def test_failed_transaction_leaves_neither_state_nor_event(
    parts: tuple[ServiceDatabase, Broker], settings: Settings
) -> None:
    db, broker = parts
    outbox = Outbox(db, broker)

    async def work(session: AsyncClientSession) -> None:
        await db["batches"].insert_one({"_id": "b2"}, session=session)
        await outbox.add(session, sealed("b2"))
        raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        await db.transaction(work)
    assert await db["batches"].find_one({"_id": "b2"}) is None
    assert await db["outbox"].count_documents({}) == 0


async def test_events_saved_before_a_crash_are_published_by_the_next_relay(
    parts: tuple[ServiceDatabase, Broker], settings: Settings
) -> None:
    """Saved, then the process died before publishing: a new process's relay sends them."""
    db, broker = parts
    events = [sealed(f"b{i}") for i in range(5)]

    await save_unrelayed(db, broker, *events)  # no relay ran: this process "crashed" here
    relay = Outbox(db, broker, poll_s=0.1)
    task = asyncio.create_task(relay.run())
    try:
        await until_relayed(db, seconds=5.0)
    finally:
        task.cancel()
    assert sorted(await queued_ids(broker, settings)) == sorted(e.event_id for e in events)


async def test_an_idle_relay_polls_less_and_still_finds_what_a_dead_process_left(
    parts: tuple[ServiceDatabase, Broker], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found empty, the poll doubles its wait up to IDLE_POLL_S; events saved by another
    process (which died before relaying them) still go out within that wait."""
    db, broker = parts
    monkeypatch.setattr(outbox_module, "IDLE_POLL_S", 0.8)
    relay = Outbox(db, broker, poll_s=0.1)
    reads = 0
    relay_once = relay.relay_once

    async def counted() -> int:
        nonlocal reads
        reads += 1
        return await relay_once()

    monkeypatch.setattr(relay, "relay_once", counted)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(3.0)
        # 0.1, 0.2, 0.4, then every 0.8 s: about 6 reads in 3 s (30 at a steady 0.1 s).
        assert 4 <= reads <= 8
        event = sealed("left-behind")
        await save_unrelayed(db, broker, event)  # no notify: another process
        await until_relayed(db, seconds=3.0)
    finally:
        task.cancel()
    assert await queued_ids(broker, settings) == [event.event_id]


async def test_apply_once_ignores_a_redelivered_event(
    parts: tuple[ServiceDatabase, Broker],
) -> None:
    db, _ = parts

    async def effect(session: AsyncClientSession) -> None:
        await db["counters"].update_one(
            {"_id": "c"}, {"$inc": {"n": 1}}, upsert=True, session=session
        )

    assert await db.apply_once("event-1", effect) is True
    assert await db.apply_once("event-1", effect) is False
    results = await asyncio.gather(*(db.apply_once("event-2", effect) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    counter = await db["counters"].find_one({"_id": "c"})
    assert counter is not None and counter["n"] == 2


async def test_events_applied_in_groups_are_applied_once_and_a_bad_one_fails_alone(
    parts: tuple[ServiceDatabase, Broker],
) -> None:
    db, _ = parts
    applied_groups: list[list[str]] = []

    async def apply_many(session: AsyncClientSession, events: Sequence[BatchSealed]) -> None:
        if any(e.batch_id == "poison" for e in events):
            raise ValueError("cannot apply the poison batch")
        applied_groups.append([e.batch_id for e in events])
        await db["sealed"].insert_many([{"_id": e.batch_id} for e in events], session=session)

    handle = apply_once_in_groups(db, BatchSealed, apply_many)
    envelopes = [
        Envelope.wrap(BatchSealed(batch_id=name, project_id="p", org_id="o", item_count=1))
        for name in ("a", "b", "poison", "c")
    ]
    results = await asyncio.gather(
        *(handle(e) for e in [*envelopes, envelopes[0]]), return_exceptions=True
    )
    # The poison event fails on its own; the group it spoiled is applied one by one.
    assert [type(r).__name__ for r in results] == [
        "NoneType",
        "NoneType",
        "ValueError",
        "NoneType",
        "NoneType",
    ]
    assert sorted(d["_id"] for d in await db["sealed"].find({}).to_list(None)) == ["a", "b", "c"]
    # Redelivered later: nothing happens twice.
    await handle(envelopes[1])
    assert await db["sealed"].count_documents({}) == 3
    assert sum(len(g) for g in applied_groups) == 3


async def test_a_group_holding_a_redelivered_event_applies_only_the_new_ones(
    parts: tuple[ServiceDatabase, Broker],
) -> None:
    """Nothing is read before a group: the redelivered event's marker fails the first try,
    and the group goes again without it."""
    db, _ = parts
    applied: list[str] = []
    told: list[str] = []

    async def apply_many(session: AsyncClientSession, events: Sequence[BatchSealed]) -> None:
        await db["sealed"].insert_many([{"_id": e.batch_id} for e in events], session=session)
        applied.extend(e.batch_id for e in events)

    handle = apply_once_in_groups(
        db, BatchSealed, apply_many, after=lambda events: told.extend(e.batch_id for e in events)
    )
    envelopes = [
        Envelope.wrap(BatchSealed(batch_id=name, project_id="p", org_id="o", item_count=1))
        for name in ("old", "new-1", "new-2")
    ]
    await handle(envelopes[0])
    await asyncio.gather(*(handle(e) for e in envelopes))  # one group, "old" redelivered
    assert sorted(d["_id"] for d in await db["sealed"].find({}).to_list(None)) == [
        "new-1",
        "new-2",
        "old",
    ]
    # Each applied and told once: the failed first try wrote nothing and told nobody.
    assert sorted(applied) == sorted(told) == ["new-1", "new-2", "old"]


async def test_events_keyed_by_their_own_writes_are_applied_once_without_markers(
    parts: tuple[ServiceDatabase, Broker],
) -> None:
    """With `keyed`, the document each event inserts under its own key is its marker: a
    redelivery (alone, or in a group with new events) changes nothing and is told to nobody,
    and no processed marker is written."""
    db, _ = parts
    told: list[str] = []

    async def apply_many(session: AsyncClientSession, events: Sequence[BatchSealed]) -> None:
        await db["sealed"].insert_many([{"_id": e.batch_id} for e in events], session=session)
        await db["counters"].update_one(
            {"_id": "c"}, {"$inc": {"n": len(events)}}, upsert=True, session=session
        )

    async def written(keys: Sequence[str]) -> set[str]:
        found = db["sealed"].find({"_id": {"$in": list(keys)}}, {"_id": 1})
        return {d["_id"] for d in await found.to_list(None)}

    handle = apply_once_in_groups(
        db,
        BatchSealed,
        apply_many,
        after=lambda events: told.extend(e.batch_id for e in events),
        keyed=KeyedWrites(lambda e: e.batch_id, written),
    )
    envelopes = [
        Envelope.wrap(BatchSealed(batch_id=name, project_id="p", org_id="o", item_count=1))
        for name in ("old", "new-1", "new-2")
    ]
    await handle(envelopes[0])
    await asyncio.gather(*(handle(e) for e in envelopes))  # one group, "old" redelivered
    await handle(envelopes[0])  # alone, later
    # The same batch under a new event id (an upstream retry) is the same write: once.
    await handle(sealed("old"))
    counter = await db["counters"].find_one({"_id": "c"})
    assert counter is not None and counter["n"] == 3
    assert sorted(told) == ["new-1", "new-2", "old"]
    assert await db.processed.count_documents({}) == 0


async def test_a_document_of_more_events_than_a_slice_is_published_whole(
    parts: tuple[ServiceDatabase, Broker], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import writes hundreds of events to one document; the relay publishes them a slice
    at a time (memory), and every one goes out, once, before the document is removed."""
    db, broker = parts
    outbox = Outbox(db, broker)
    monkeypatch.setattr("shared.messaging.outbox.PUBLISH_SLICE", 7)
    in_flight, most = 0, 0
    publish = broker.publish_raw

    async def counted(*args: object, **kwargs: object) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await publish(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            in_flight -= 1

    monkeypatch.setattr(broker, "publish_raw", counted)
    events = [sealed(f"b{n}") for n in range(30)]

    async def work(session: AsyncClientSession) -> None:
        await outbox.add(session, *events)

    await db.transaction(work)
    assert await outbox.relay_once() == 1
    assert most == 7
    assert await db["outbox"].count_documents({}) == 0
    assert sorted(await queued_ids(broker, settings)) == sorted(e.event_id for e in events)


async def relay_counting_reads(
    db: ServiceDatabase, broker: Broker, monkeypatch: pytest.MonkeyPatch, poll_s: float
) -> tuple[Outbox, list[int]]:
    """A relay whose reads of the outbox are counted (reads[0])."""
    relay = Outbox(db, broker, poll_s=poll_s)
    reads = [0]
    relay_once = relay.relay_once

    async def counted() -> int:
        reads[0] += 1
        return await relay_once()

    monkeypatch.setattr(relay, "relay_once", counted)
    return relay, reads


async def test_what_this_process_committed_is_relayed_without_reading_the_outbox(
    parts: tuple[ServiceDatabase, Broker], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, broker = parts
    relay, reads = await relay_counting_reads(db, broker, monkeypatch, poll_s=30.0)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.3)
        assert reads[0] == 1  # at start: what an earlier process left
        events = [sealed(f"m{i}") for i in range(3)]
        for event in events:

            async def work(session: AsyncClientSession, event: Envelope = event) -> None:
                await relay.add(session, event)

            await db.transaction(work)
            relay.notify()
            await until_relayed(db, seconds=3.0)
        relay.notify()  # a commit that saved no events
        await asyncio.sleep(0.3)
        assert reads[0] == 1  # each went out from memory (the poll is 30 s away)
    finally:
        task.cancel()
    assert await queued_ids(broker, settings) == [e.event_id for e in events]


async def test_an_aborted_or_retried_attempt_hands_nothing_to_the_relay(
    parts: tuple[ServiceDatabase, Broker], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only what committed goes out: not the events of an attempt that conflicted and was
    retried with other events, nor those of a transaction that failed."""
    db, broker = parts
    relay, _ = await relay_counting_reads(db, broker, monkeypatch, poll_s=30.0)
    first, retried, failed = sealed("first-try"), sealed("second-try"), sealed("failed")
    attempts = 0

    await db["counters"].insert_one({"_id": "contended", "n": 0})

    async def conflicting(session: AsyncClientSession) -> None:
        """The first attempt meets a write another client committed after it began."""
        nonlocal attempts
        attempts += 1
        await db["counters"].find_one({"_id": "contended"}, session=session)  # its snapshot
        await relay.add(session, first if attempts == 1 else retried)
        if attempts == 1:
            await db["counters"].update_one({"_id": "contended"}, {"$inc": {"n": 1}})
        await db["counters"].update_one({"_id": "contended"}, {"$inc": {"n": 1}}, session=session)

    async def failing(session: AsyncClientSession) -> None:
        await relay.add(session, failed)
        raise RuntimeError("crash before commit")

    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.3)
        await db.transaction(conflicting)
        with pytest.raises(RuntimeError):
            await db.transaction(failing)
        relay.notify()
        await until_relayed(db, seconds=3.0)
        await asyncio.sleep(0.3)
    finally:
        task.cancel()
    assert attempts == 2
    assert await queued_ids(broker, settings) == [retried.event_id]


async def test_events_whose_publish_failed_go_out_with_the_next_read(
    parts: tuple[ServiceDatabase, Broker], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker refused the events taken from memory: they stay saved, and the relay reads
    the outbox again instead of waiting for its poll."""
    db, broker = parts
    relay, reads = await relay_counting_reads(db, broker, monkeypatch, poll_s=0.2)
    publish = broker.publish_raw
    refused = 0

    async def refusing_once(*args: object, **kwargs: object) -> None:
        nonlocal refused
        if refused == 0:
            refused += 1
            raise ConnectionError("broker gone")
        await publish(*args, **kwargs)  # type: ignore[arg-type]

    event = sealed("refused-once")
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.3)
        monkeypatch.setattr(broker, "publish_raw", refusing_once)
        before = reads[0]

        async def work(session: AsyncClientSession) -> None:
            await relay.add(session, event)

        await db.transaction(work)
        relay.notify()
        await until_relayed(db, seconds=3.0)
        assert reads[0] > before
    finally:
        task.cancel()
    assert refused == 1
    assert await queued_ids(broker, settings) == [event.event_id]


async def test_a_conditional_set_answers_the_document_as_the_database_keeps_it(
    parts: tuple[ServiceDatabase, Broker],
) -> None:
    """`modify_by_id` answers a `$set` of top-level fields without reading the document
    again: what it answers is what a read gives (times to the millisecond, tuples as
    lists, nested documents whole), and a refused condition changes nothing."""
    db, _ = parts
    units = db["units"]
    await units.insert_one({"_id": "u1", "status": "pending", "lease": None, "n": 1})
    moment = datetime(2026, 12, 7, 3, 4, 5, 678901, tzinfo=UTC)
    update = {"$set": {"status": "in_review", "lease": {"by": "r1", "until": moment}, "t": (1, 2)}}

    async def claim(session: AsyncClientSession) -> Doc | None:
        return await modify_by_id(
            units, "u1", update, session=session, when=lambda u: u["status"] == "pending"
        )

    answered = await db.transaction(claim)
    stored = await units.find_one({"_id": "u1"})
    assert answered == stored
    assert stored is not None and stored["lease"]["until"] == moment.replace(microsecond=678000)
    assert await db.transaction(claim) is None  # no longer pending
    assert await units.find_one({"_id": "u1"}) == stored


async def test_a_conditional_update_of_other_operators_reads_the_document_again(
    parts: tuple[ServiceDatabase, Broker],
) -> None:
    db, _ = parts
    counters = db["counters"]
    await counters.insert_one({"_id": "c1", "n": 1, "tags": ["a"]})

    async def bump(session: AsyncClientSession) -> Doc | None:
        return await modify_by_id(
            counters,
            "c1",
            {"$inc": {"n": 2}, "$push": {"tags": "b"}, "$set": {"seen.by": "r1"}},
            session=session,
            when=lambda c: c["n"] < 10,
        )

    assert await db.transaction(bump) == {
        "_id": "c1",
        "n": 3,
        "tags": ["a", "b"],
        "seen": {"by": "r1"},
    }


async def test_events_of_several_kinds_share_one_group_and_a_kind_not_named_fails_alone(
    parts: tuple[ServiceDatabase, Broker],
) -> None:
    """With several models, events of each kind that arrive together are applied in one call
    (one transaction), each parsed by its own type; an event of a kind the handler does not
    name fails on its own and spoils nothing."""
    db, _ = parts
    calls: list[list[str]] = []

    async def apply_many(
        session: AsyncClientSession, events: Sequence[BatchSealed | TokenRevoked]
    ) -> None:
        calls.append(sorted(type(e).__name__ for e in events))
        await db["applied"].insert_many(
            [{"kind": type(e).__name__} for e in events], session=session
        )

    kinds: tuple[type[BatchSealed | TokenRevoked], ...] = (BatchSealed, TokenRevoked)
    handle = apply_once_in_groups(db, kinds, apply_many, idempotent=True)
    revoked = Envelope.wrap(
        TokenRevoked(jti="t1", org_id="o", expires_at=datetime(2030, 1, 1, tzinfo=UTC))
    )
    dropped = Envelope.wrap(
        ItemDropped(
            item_id="i", project_id="p", batch_id="b", org_id="o", reason="r", dropped_by="u"
        )
    )
    results = await asyncio.gather(
        handle(sealed("a")), handle(revoked), handle(dropped), return_exceptions=True
    )
    assert [type(r).__name__ for r in results] == ["NoneType", "NoneType", "ValueError"]
    assert calls == [["BatchSealed", "TokenRevoked"]]
    assert await db["applied"].count_documents({}) == 2
