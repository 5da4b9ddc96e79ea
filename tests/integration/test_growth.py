"""The hot paths' database cost does not grow with the data.

Each test times one hot-path store operation with 1,000 documents in the collections it works
on, then again with 50,000, and bounds the ratio. A collection scan costs about fifty times
more at the larger size: the embedded database answered findAndModify that way, so counting
one accepted task cost a scan of every item of the project. A lookup by index costs about the
same at both sizes. The bound leaves room for this machine's noise, not for a scan.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from aviary_devkit.bench import review_bench
from services.dispatch.deps import DispatchParts
from services.dispatch.leases.repository import Submission
from services.dispatch.leases.slots import Lease
from services.export.deps import ExportParts
from services.ingest.deps import IngestParts
from services.ingest.repositories import ImportOutcome
from services.review.deps import ReviewParts
from shared.events import Envelope, ItemAccepted, ItemIngested, TaskSubmitted
from shared.messaging.handlers import apply_once_in_groups
from shared.runtime import Runtime
from shared.settings import Settings
from shared.store.mongo import AsyncClientSession, AsyncCollection, Doc, utcnow
from shared.store.retention import expiries, prepare_expiries, sweep_expired

pytestmark = pytest.mark.integration

SMALL, LARGE = 1_000, 50_000
BOUND = 3.0
REPS = 7
GROUP = 20  # events handled together, as a consumer's group would be

Op = Callable[[int], Awaitable[Any]]


async def median_ms(op: Op, first: int) -> float:
    """Median wall time of `op(first)`, `op(first + 1)`, ...: each round on fresh documents."""
    await op(first)  # warm: connections, plans, the driver's session pool
    times = []
    for i in range(first + 1, first + 1 + REPS):
        started = time.perf_counter()
        await op(i)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def fill(
    collection: AsyncCollection[Doc], make: Callable[[int], Doc], start: int, stop: int
) -> None:
    for chunk in range(start, stop, 5_000):
        docs = [make(i) for i in range(chunk, min(stop, chunk + 5_000))]
        await collection.insert_many(docs, ordered=False)


async def growth(seed: Callable[[int, int], Awaitable[None]], op: Op) -> float:
    """Cost at LARGE documents over cost at SMALL; rounds 0.. at SMALL, 100.. at LARGE."""
    await seed(0, SMALL)
    small = await median_ms(op, 0)
    await seed(SMALL, LARGE)
    large = await median_ms(op, 100)
    print(f"{small:.2f} ms at {SMALL:,}, {large:.2f} ms at {LARGE:,}")
    return large / small


@pytest.fixture
async def runtime_of(settings: Settings) -> AsyncIterator[Callable[[str], Runtime]]:
    made: list[Runtime] = []

    def make(service: str) -> Runtime:
        made.append(Runtime(service, settings, "api"))
        return made[-1]

    yield make
    for runtime in made:
        await runtime.mongo_client.close()


def item_doc(i: int) -> Doc:
    return {
        "_id": f"itm_{i:08d}",
        "batch_id": "bat_growth",
        "project_id": "prj_growth",
        "org_id": "org_growth",
        "sha256": f"{i:064x}",
        "status": "stored",
        "created_at": utcnow(),
    }


def ingested(i: int) -> ItemIngested:
    image = review_bench.submitted(i).data["image"]
    return ItemIngested(
        item_id=f"itm_new_{i:08d}",
        project_id="prj_growth",
        batch_id="bat_growth",
        org_id="org_growth",
        image=image,
    )


def submitted(i: int) -> TaskSubmitted:
    return TaskSubmitted.model_validate(review_bench.submitted(i).data)


def accepted(i: int) -> ItemAccepted:
    event = submitted(i)
    return ItemAccepted(
        **event.model_dump(include=set(ItemAccepted.model_fields) - {"reviewer_id"}),
        reviewer_id=None,
    )


async def in_transaction(
    runtime: Runtime, work: Callable[[AsyncClientSession], Awaitable[Any]]
) -> Any:
    return await runtime.db.transaction(work)


def group(round_: int) -> range:
    return range(round_ * GROUP, (round_ + 1) * GROUP)


# ----- ingest ----------------------------------------------------------------------------------


async def ingest_parts(runtime: Runtime) -> IngestParts:
    """Ingest's repositories and services, with every index start-up makes."""
    parts = IngestParts.build(runtime)
    for repository in (parts.tokens, parts.projects, parts.batches, parts.items, parts.imports):
        await repository.ensure_indexes()
    return parts


async def test_counting_submitted_and_accepted_items_does_not_grow_with_the_items(
    runtime_of: Callable[[str], Runtime],
) -> None:
    runtime = runtime_of("ingest")
    parts = await ingest_parts(runtime)

    async def count(round_: int) -> None:
        ids = [f"itm_{i:08d}" for i in group(round_ % 40)]
        flag = parts.ledger.mark_submitted if round_ < 100 else parts.ledger.mark_accepted
        await in_transaction(runtime, lambda s: flag(s, ids))

    async def seed(start: int, stop: int) -> None:
        await fill(parts.items.items, item_doc, start, stop)

    assert await growth(seed, count) < BOUND
    shards = await parts.batches.progress("bat_growth")
    assert shards["submitted"] == GROUP * (REPS + 1)
    assert shards["accepted"] == GROUP * (REPS + 1)


async def test_recording_uploads_does_not_grow_with_the_items(
    runtime_of: Callable[[str], Runtime],
) -> None:
    runtime = runtime_of("ingest")
    parts = await ingest_parts(runtime)
    batch = {
        "_id": "bat_growth",
        "project_id": "prj_growth",
        "org_id": "org_growth",
        "status": "open",
    }
    await parts.batches.batches.insert_one(batch)

    async def upload(round_: int) -> None:
        events = [ingested(i) for i in group(round_)]
        known = await parts.items.find_many([e.item_id for e in events])
        assert not known
        await parts.ledger.add_items(
            batch,
            [
                ({**item_doc(i), "_id": e.item_id}, e)
                for i, e in zip(group(round_), events, strict=True)
            ],
        )

    async def seed(start: int, stop: int) -> None:
        await fill(parts.items.items, item_doc, start, stop)

    assert await growth(seed, upload) < BOUND


async def test_url_import_outcomes_do_not_grow_with_the_urls(
    runtime_of: Callable[[str], Runtime],
) -> None:
    runtime = runtime_of("ingest")
    imports = (await ingest_parts(runtime)).imports
    await imports.imports.insert_one({"_id": "imp_growth", "pending": LARGE, "done": 0})

    def url_doc(i: int) -> Doc:
        return {
            "_id": f"url_{i:08d}",
            "import_id": "imp_growth",
            "status": "pending",
            "attempts": 0,
        }

    async def finish(round_: int) -> None:
        ids = [f"url_{i:08d}" for i in group(round_ % 40)]
        urls = await imports.urls_by_id(ids)
        await imports.count_attempts(ids)
        outcomes = [ImportOutcome(url, "done", {"item_id": "itm_x"}) for url in urls.values()]
        await imports.finish(outcomes)

    async def seed(start: int, stop: int) -> None:
        await fill(imports.import_urls, url_doc, start, stop)

    assert await growth(seed, finish) < BOUND
    counted = await imports.imports.find_one({"_id": "imp_growth"})
    assert counted is not None
    assert counted["done"] == 2 * GROUP * (REPS + 1)
    assert counted["pending"] == LARGE - 2 * GROUP * (REPS + 1)


# ----- review ----------------------------------------------------------------------------------


async def review_parts(runtime: Runtime) -> ReviewParts:
    """Review's repositories and services, with every index start-up makes."""
    parts = ReviewParts.build(runtime)
    for repository in (
        parts.units,
        parts.submissions,
        parts.appeals,
        parts.gold,
        parts.statements,
    ):
        await repository.ensure_indexes()
    return parts


async def test_receiving_submissions_does_not_grow_with_the_submissions(
    settings: Settings, runtime_of: Callable[[str], Runtime]
) -> None:
    await review_bench.seed(settings)  # the auto-accept project
    runtime = runtime_of("review")
    parts = await review_parts(runtime)
    submissions = runtime.db["submissions"]

    def old(i: int) -> Doc:
        return {
            "_id": f"sub_old_{i:08d}",
            **submitted(i).model_dump(mode="json", exclude={"submission_id"}),
            "status": "accepted",
            "created_at": utcnow(),
            "lease": None,
            "appeal": None,
        }

    async def receive(round_: int) -> None:
        events = [submitted(i) for i in group(round_)]
        await in_transaction(runtime, lambda s: parts.intake.receive(s, events))

    async def seed(start: int, stop: int) -> None:
        await fill(submissions, old, start, stop)

    assert await growth(seed, receive) < BOUND
    mine = await submissions.count_documents({"_id": {"$regex": "^sub_0"}})
    assert mine == 2 * GROUP * (REPS + 1)


async def test_claiming_a_review_does_not_grow_with_the_submissions(
    runtime_of: Callable[[str], Runtime],
) -> None:
    runtime = runtime_of("review")
    units = (await review_parts(runtime)).units

    def pending(i: int) -> Doc:
        return {"_id": f"sub_{i:08d}", "status": "pending", "lease": None, "vendor_id": "v"}

    async def claim(round_: int) -> None:
        assert await units.claim(f"sub_{round_:08d}", "reviewer") is not None
        assert await units.claim(f"sub_{round_:08d}", "another") is None  # held now

    async def seed(start: int, stop: int) -> None:
        await fill(units.submissions, pending, start, stop)

    assert await growth(seed, claim) < BOUND


# ----- export ----------------------------------------------------------------------------------


async def test_accepting_items_into_the_read_model_does_not_grow_with_the_batch(
    runtime_of: Callable[[str], Runtime],
) -> None:
    runtime = runtime_of("export")
    parts = ExportParts.build(runtime)
    for repository in (parts.accepted, parts.deliveries, parts.webhooks):
        await repository.ensure_indexes()

    def old(i: int) -> Doc:
        return {"_id": f"itm_old_{i:08d}", "batch_id": "bat_bench", "seq": 1}

    async def accept(round_: int) -> None:
        events = [accepted(i) for i in group(round_)]
        await in_transaction(runtime, lambda s: parts.intake.accept_items(s, events))

    async def seed(start: int, stop: int) -> None:
        await fill(parts.accepted.accepted, old, start, stop)

    assert await growth(seed, accept) < BOUND
    batch = await parts.batches.get(None, "bat_bench")
    assert batch["accepted_count"] == GROUP * 2 * (REPS + 1)
    assert batch["seq"] == 2 * (REPS + 1)


# ----- dispatch --------------------------------------------------------------------------------


async def test_leasing_and_submitting_do_not_grow_with_the_claims(
    runtime_of: Callable[[str], Runtime], settings: Settings
) -> None:
    runtime = runtime_of("dispatch")
    await prepare_expiries(runtime.db, expiries("dispatch", settings))  # the sweep's index too
    slots = DispatchParts.build(runtime).leases.slots
    now = utcnow()

    def lease(i: int) -> Lease:
        task = {"_id": f"tsk_{i:08d}", "rework": 0, "next_slot": 0}
        return Lease.new(task, f"ann-{i % 8}", "ven", now, ttl_s=300)

    def old_claim(i: int) -> Doc:
        return {"_id": f"tsk_old_{i:08d}/0/0", "kind": "lease", "expires_at": now}

    async def lease_and_submit(round_: int) -> None:
        leases = [lease(i) for i in group(round_)]
        assert all(await slots.insert_leases(leases))
        submissions = [
            Submission(
                lease=le,
                record={
                    "_id": le.next_key,
                    "kind": "submitted",
                    "submission_id": f"sub_{le.task_id}",
                },
                group="grp",
                event=Envelope.wrap(submitted(i), org_ids=("org",)),
            )
            for i, le in zip(group(round_), leases, strict=True)
        ]
        outcomes = await slots.submit_many(submissions)
        assert all(isinstance(o, str) for o in outcomes)

    async def seed(start: int, stop: int) -> None:
        await fill(slots.claims, old_claim, start, stop)

    assert await growth(seed, lease_and_submit) < BOUND


async def test_sweeping_expired_leases_does_not_grow_with_the_records_kept(
    runtime_of: Callable[[str], Runtime], settings: Settings
) -> None:
    runtime = runtime_of("dispatch")
    await prepare_expiries(runtime.db, expiries("dispatch", settings))
    leases = DispatchParts.build(runtime).leases
    start = utcnow()

    def kept(i: int) -> Doc:  # leases of the past, already swept
        at = start - timedelta(days=1, seconds=i)
        return {"_id": f"tsk_old_{i:08d}/0/0", "kind": "lease", "expires_at": at}

    async def seed(first: int, stop: int) -> None:
        await fill(leases.slots.claims, kept, first, stop)
        await leases.slots.mark_swept(start)

    async def sweep(round_: int) -> None:
        # GROUP leases expiring in this round's second, then a sweep past them.
        at = start + timedelta(seconds=round_)
        docs = [
            {**Lease.new({"_id": f"tsk_{i:08d}"}, "ann", "ven", at, 0).to_doc()}
            for i in group(round_)
        ]
        await leases.slots.claims.insert_many(docs)
        await leases.sweep(at + timedelta(milliseconds=500))

    assert await growth(seed, sweep) < BOUND


# ----- every consumer --------------------------------------------------------------------------


async def test_recognising_a_redelivered_event_does_not_grow_with_the_events_seen(
    runtime_of: Callable[[str], Runtime],
) -> None:
    runtime = runtime_of("export")
    applied: list[str] = []

    async def apply_many(session: AsyncClientSession, events: Any) -> None:
        applied.extend(e.item_id for e in events)

    handle = apply_once_in_groups(runtime.db, ItemAccepted, apply_many)

    async def deliver(round_: int) -> None:
        envelope = Envelope.wrap(accepted(round_), org_ids=("org",))
        await handle(envelope)
        await handle(envelope)  # a redelivery: recognised, not applied again

    async def seed(start: int, stop: int) -> None:
        await fill(
            runtime.db.processed,
            lambda i: {"_id": f"evt_old_{i:08d}", "at": utcnow() - timedelta(days=1)},
            start,
            stop,
        )

    assert await growth(seed, deliver) < BOUND
    assert len(applied) == len(set(applied)) == 2 * (REPS + 1)


async def test_the_retention_sweep_does_not_grow_with_what_is_kept(
    settings: Settings, runtime_of: Callable[[str], Runtime]
) -> None:
    runtime = runtime_of("dispatch")
    kept = expiries("dispatch", settings.model_copy(update={"claims_retention_s": 30 * 86_400}))
    await prepare_expiries(runtime.db, kept)
    now = utcnow()

    def young_claim(i: int) -> Doc:
        day_ago = now - timedelta(days=1)
        return {"_id": f"tsk_{i:08d}/0/1", "kind": "submitted", "expires_at": day_ago}

    async def sweep(round_: int) -> None:
        expired = [
            {
                "_id": f"old_{round_}_{i}/0/1",
                "kind": "lease",
                "expires_at": now - timedelta(days=60),
            }
            for i in range(GROUP)
        ]
        await runtime.db["claims"].insert_many(expired)
        assert await sweep_expired(runtime.db, kept, now) == GROUP

    async def seed(start: int, stop: int) -> None:
        await fill(runtime.db["claims"], young_claim, start, stop)

    assert await growth(seed, sweep) < BOUND
    assert await runtime.db["claims"].count_documents({}) == LARGE
