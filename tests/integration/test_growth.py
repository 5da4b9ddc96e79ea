"""The hot paths' database cost does not grow with the data.

Each test builds one hot-path store operation twice, in two namespaces: one with 1,000
documents in the collections it works on, one with 20,000. It runs the two in turns and
bounds the ratio of their median times. A collection scan costs about twenty times more at the
larger size: the embedded database answered findAndModify that way, so counting one accepted
task cost a scan of every item of the project. A lookup by index costs about the same at both
sizes. Taking turns puts a busy machine's slow moments on both sides alike; the bound leaves
room for what noise is left, not for a scan. (The larger side was 50,000 documents; in the
whole suite, with the services of the other tests running, seeding it took a minute a test.)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from aviary_devkit.bench import review_bench
from aviary_devkit.processes import cleanup_namespace, isolated_settings
from services.dispatch.deps import DispatchParts
from services.dispatch.leases.repository import Submission
from services.dispatch.leases.slots import Lease
from services.export.deps import ExportParts
from services.ingest.deps import IngestParts
from services.ingest.repositories import ImportOutcome
from services.review.deps import ReviewParts
from shared.events import Envelope, ItemAccepted, ItemIngested
from shared.messaging.handlers import apply_once_in_groups
from shared.runtime import Runtime
from shared.settings import Settings
from shared.store.mongo import AsyncClientSession, AsyncCollection, Doc, utcnow
from shared.store.retention import expiries, prepare_expiries, sweep_expired
from tests.support import bench_accepted, bench_submitted

pytestmark = [pytest.mark.integration, pytest.mark.timing]

SMALL, LARGE = 1_000, 20_000
BOUND = 3.0
REPS = 9
PASSES = 3
GROUP = 20  # events handled together, as a consumer's group would be
LARGE_ROUNDS = 100  # the large side's rounds are 100, 101, ...: other documents than the small's

Op = Callable[[int], Awaitable[Any]]
# One side of a comparison: given a runtime and a size, seed that many documents, return the op.
Side = Callable[[Runtime, int], Awaitable[Op]]


@dataclass
class Sizes:
    """Two namespaces, one for each size, and the runtimes made on them."""

    small: Settings
    large: Settings
    made: list[Runtime] = field(default_factory=list)

    def runtimes(self, service: str) -> tuple[Runtime, Runtime]:
        pair = (Runtime(service, self.small, "api"), Runtime(service, self.large, "api"))
        self.made.extend(pair)
        return pair


@pytest.fixture
async def sizes(settings: Settings) -> AsyncIterator[Sizes]:
    made = Sizes(settings, isolated_settings())
    yield made
    for runtime in made.made:
        await runtime.mongo_client.close()
    await cleanup_namespace(made.large)


@dataclass(frozen=True)
class Growth:
    ratio: float  # the large side's median time over the small side's, the best pass's
    rounds: int  # how many times each side ran the op, warming included


async def growth(runtimes: tuple[Runtime, Runtime], side: Side) -> Growth:
    """Median cost of the op at LARGE documents over its median cost at SMALL, timed in turns.

    Op rounds 0.. run on the small side, LARGE_ROUNDS.. on the large; each round works on fresh
    documents, and the first of each side only warms connections, plans and session pools.
    Up to PASSES passes of REPS rounds each, the best ratio kept: a collection that has just
    taken thousands of inserts is sometimes slow for a second or two on the embedded database,
    and a pass can fall into that, but a scan is slow in every pass.
    """
    small_op = await side(runtimes[0], SMALL)
    large_op = await side(runtimes[1], LARGE)
    await small_op(0)
    await large_op(LARGE_ROUNDS)
    best, rounds = float("inf"), 1
    for n in range(PASSES):
        small: list[float] = []
        large: list[float] = []
        for i in range(1 + n * REPS, 1 + (n + 1) * REPS):
            turns = [(small_op, i, small), (large_op, LARGE_ROUNDS + i, large)]
            for op, round_, times in turns if i % 2 else reversed(turns):
                started = time.perf_counter()
                await op(round_)
                times.append((time.perf_counter() - started) * 1000)
        small_ms, large_ms = statistics.median(small), statistics.median(large)
        print(f"{small_ms:.2f} ms at {SMALL:,}, {large_ms:.2f} ms at {LARGE:,}")
        best, rounds = min(best, large_ms / small_ms), rounds + REPS
        if best < BOUND:
            break
    return Growth(best, rounds)


async def fill(
    collection: AsyncCollection[Doc], make: Callable[[int], Doc], start: int, stop: int
) -> None:
    for chunk in range(start, stop, 5_000):
        docs = [make(i) for i in range(chunk, min(stop, chunk + 5_000))]
        await collection.insert_many(docs, ordered=False)


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
    sizes: Sizes,
) -> None:
    async def side(runtime: Runtime, size: int) -> Op:
        parts = await ingest_parts(runtime)
        await fill(parts.items.items, item_doc, 0, size)

        async def count(round_: int) -> None:
            ids = {f"itm_{i:08d}": "bat_growth" for i in group(round_ % 40)}
            await in_transaction(runtime, lambda s: parts.ledger.mark_submitted(s, ids))
            await in_transaction(runtime, lambda s: parts.ledger.mark_accepted(s, ids))

        return count

    runtimes = sizes.runtimes("ingest")
    grown = await growth(runtimes, side)
    assert grown.ratio < BOUND
    for runtime in runtimes:
        shards = await IngestParts.build(runtime).batches.progress("bat_growth")
        assert shards["submitted"] == shards["accepted"] == GROUP * grown.rounds


async def test_recording_uploads_does_not_grow_with_the_items(sizes: Sizes) -> None:
    batch = {
        "_id": "bat_growth",
        "project_id": "prj_growth",
        "org_id": "org_growth",
        "status": "open",
    }

    async def side(runtime: Runtime, size: int) -> Op:
        parts = await ingest_parts(runtime)
        await parts.batches.batches.insert_one(batch)
        await fill(parts.items.items, item_doc, 0, size)

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

        return upload

    grown = await growth(sizes.runtimes("ingest"), side)
    assert grown.ratio < BOUND


async def test_url_import_outcomes_do_not_grow_with_the_urls(sizes: Sizes) -> None:
    def url_doc(i: int) -> Doc:
        return {
            "_id": f"url_{i:08d}",
            "import_id": "imp_growth",
            "status": "pending",
            "attempts": 0,
        }

    async def side(runtime: Runtime, size: int) -> Op:
        imports = (await ingest_parts(runtime)).imports
        await imports.imports.insert_one({"_id": "imp_growth", "pending": size, "done": 0})
        await fill(imports.import_urls, url_doc, 0, size)

        async def finish(round_: int) -> None:
            ids = [f"url_{i:08d}" for i in group(round_ % 40)]
            urls = await imports.urls_by_id(ids)
            await imports.count_attempts(ids)
            outcomes = [ImportOutcome(url, "done", {"item_id": "itm_x"}) for url in urls.values()]
            await imports.finish(outcomes)

        return finish

    runtimes = sizes.runtimes("ingest")
    grown = await growth(runtimes, side)
    assert grown.ratio < BOUND
    for runtime, size in zip(runtimes, (SMALL, LARGE), strict=True):
        counted = await IngestParts.build(runtime).imports.imports.find_one({"_id": "imp_growth"})
        assert counted is not None
        assert counted["done"] == GROUP * grown.rounds
        assert counted["pending"] == size - GROUP * grown.rounds


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


async def test_receiving_submissions_does_not_grow_with_the_submissions(sizes: Sizes) -> None:
    def old(i: int) -> Doc:
        return {
            "_id": f"sub_old_{i:08d}",
            **bench_submitted(i).model_dump(mode="json", exclude={"submission_id"}),
            "status": "accepted",
            "created_at": utcnow(),
            "lease": None,
            "appeal": None,
        }

    async def side(runtime: Runtime, size: int) -> Op:
        await review_bench.seed(runtime.settings)  # the auto-accept project
        parts = await review_parts(runtime)
        await fill(runtime.db["submissions"], old, 0, size)

        async def receive(round_: int) -> None:
            events = [bench_submitted(i) for i in group(round_)]
            await in_transaction(runtime, lambda s: parts.intake.receive(s, events))

        return receive

    runtimes = sizes.runtimes("review")
    grown = await growth(runtimes, side)
    assert grown.ratio < BOUND
    for runtime in runtimes:
        mine = await runtime.db["submissions"].count_documents({"_id": {"$regex": "^sub_0"}})
        assert mine == GROUP * grown.rounds


async def test_claiming_a_review_does_not_grow_with_the_submissions(sizes: Sizes) -> None:
    def pending(i: int) -> Doc:
        return {"_id": f"sub_{i:08d}", "status": "pending", "lease": None, "vendor_id": "v"}

    async def side(runtime: Runtime, size: int) -> Op:
        units = (await review_parts(runtime)).units
        await fill(units.submissions, pending, 0, size)

        async def claim(round_: int) -> None:
            assert await units.claim(f"sub_{round_:08d}", "reviewer") is not None
            assert await units.claim(f"sub_{round_:08d}", "another") is None  # held now

        return claim

    grown = await growth(sizes.runtimes("review"), side)
    assert grown.ratio < BOUND


async def test_finding_a_reviewers_unit_does_not_grow_with_what_they_decided(
    sizes: Sizes,
) -> None:
    """Each `next` of a reviewer first looks for a unit they hold (a claim's lost answer).
    Decided units keep their lease, so an index of every lease read the reviewer's whole
    history there: 217 ms at 20,000 units."""

    def decided(i: int) -> Doc:
        lease = {"reviewer_id": "reviewer", "expires_at": utcnow() + timedelta(minutes=10)}
        return {"_id": f"sub_old_{i:08d}", "status": "accepted", "lease": lease, "vendor_id": "v"}

    def pending(i: int) -> Doc:
        return {"_id": f"sub_{i:08d}", "status": "pending", "lease": None, "vendor_id": "v"}

    async def side(runtime: Runtime, size: int) -> Op:
        units = (await review_parts(runtime)).units
        await fill(units.submissions, decided, 0, size)
        await fill(units.submissions, pending, 0, 2 * LARGE_ROUNDS)

        async def find_then_decide(round_: int) -> None:
            unit = await units.claim(f"sub_{round_:08d}", "reviewer")
            assert unit is not None
            held = await units.held_by_reviewer("v", "reviewer")
            assert held is not None and held["_id"] == unit["_id"]
            fields = {"status": "accepted"}
            assert await in_transaction(
                runtime, lambda s: units.record_decision(s, unit, "reviewer", fields)
            )
            assert await units.held_by_reviewer("v", "reviewer") is None

        return find_then_decide

    grown = await growth(sizes.runtimes("review"), side)
    assert grown.ratio < BOUND


# ----- export ----------------------------------------------------------------------------------


async def test_accepting_items_into_the_read_model_does_not_grow_with_the_batch(
    sizes: Sizes,
) -> None:
    def old(i: int) -> Doc:
        return {"_id": f"itm_old_{i:08d}", "batch_id": "bat_bench", "seq": 1}

    async def side(runtime: Runtime, size: int) -> Op:
        parts = ExportParts.build(runtime)
        for repository in (parts.accepted, parts.deliveries, parts.webhooks):
            await repository.ensure_indexes()
        await fill(parts.accepted.accepted, old, 0, size)

        async def accept(round_: int) -> None:
            events = [bench_accepted(i) for i in group(round_)]
            await in_transaction(runtime, lambda s: parts.intake.accept_items(s, events))

        return accept

    runtimes = sizes.runtimes("export")
    grown = await growth(runtimes, side)
    assert grown.ratio < BOUND
    for runtime in runtimes:
        batch = await ExportParts.build(runtime).batches.get(None, "bat_bench")
        assert batch["accepted_count"] == GROUP * grown.rounds
        assert batch["seq"] == grown.rounds


# ----- dispatch --------------------------------------------------------------------------------


async def test_leasing_and_submitting_do_not_grow_with_the_claims(sizes: Sizes) -> None:
    now = utcnow()

    def lease(i: int) -> Lease:
        task = {"_id": f"tsk_{i:08d}", "rework": 0, "next_slot": 0}
        return Lease.new(task, f"ann-{i % 8}", "ven", now, ttl_s=300)

    def old_claim(i: int) -> Doc:
        return {"_id": f"tsk_old_{i:08d}/0/0", "kind": "lease", "expires_at": now}

    async def side(runtime: Runtime, size: int) -> Op:
        # The sweep's index too: every insert pays for it.
        await prepare_expiries(runtime.db, expiries("dispatch", runtime.settings))
        slots = DispatchParts.build(runtime).leases.slots
        await fill(slots.claims, old_claim, 0, size)

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
                    event=Envelope.wrap(bench_submitted(i), org_ids=("org",)),
                )
                for i, le in zip(group(round_), leases, strict=True)
            ]
            outcomes = await slots.submit_many(submissions)
            assert all(isinstance(o, str) for o in outcomes)

        return lease_and_submit

    grown = await growth(sizes.runtimes("dispatch"), side)
    assert grown.ratio < BOUND


async def test_sweeping_expired_leases_does_not_grow_with_the_records_kept(sizes: Sizes) -> None:
    start = utcnow()

    def kept(i: int) -> Doc:  # leases of the past, already swept
        at = start - timedelta(days=1, seconds=i)
        return {"_id": f"tsk_old_{i:08d}/0/0", "kind": "lease", "expires_at": at}

    async def side(runtime: Runtime, size: int) -> Op:
        await prepare_expiries(runtime.db, expiries("dispatch", runtime.settings))
        leases = DispatchParts.build(runtime).leases
        await fill(leases.slots.claims, kept, 0, size)
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

        return sweep

    grown = await growth(sizes.runtimes("dispatch"), side)
    assert grown.ratio < BOUND


# ----- every consumer --------------------------------------------------------------------------


async def test_recognising_a_redelivered_event_does_not_grow_with_the_events_seen(
    sizes: Sizes,
) -> None:
    applied: list[str] = []

    async def apply_many(session: AsyncClientSession, events: Any) -> None:
        applied.extend(e.item_id for e in events)

    def seen(i: int) -> Doc:
        return {"_id": f"evt_old_{i:08d}", "at": utcnow() - timedelta(days=1)}

    async def side(runtime: Runtime, size: int) -> Op:
        handle = apply_once_in_groups(runtime.db, ItemAccepted, apply_many)
        await fill(runtime.db.processed, seen, 0, size)

        async def deliver(round_: int) -> None:
            envelope = Envelope.wrap(bench_accepted(round_), org_ids=("org",))
            await handle(envelope)
            await handle(envelope)  # a redelivery: recognised, not applied again

        return deliver

    grown = await growth(sizes.runtimes("export"), side)
    assert grown.ratio < BOUND
    assert len(applied) == len(set(applied)) == 2 * grown.rounds


async def test_the_retention_sweep_does_not_grow_with_what_is_kept(sizes: Sizes) -> None:
    now = utcnow()

    def young_claim(i: int) -> Doc:
        day_ago = now - timedelta(days=1)
        return {"_id": f"tsk_{i:08d}/0/1", "kind": "submitted", "expires_at": day_ago}

    async def side(runtime: Runtime, size: int) -> Op:
        month = runtime.settings.model_copy(update={"claims_retention_s": 30 * 86_400})
        kept = expiries("dispatch", month)
        await prepare_expiries(runtime.db, kept)
        await fill(runtime.db["claims"], young_claim, 0, size)

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

        return sweep

    runtimes = sizes.runtimes("dispatch")
    grown = await growth(runtimes, side)
    assert grown.ratio < BOUND
    for runtime, size in zip(runtimes, (SMALL, LARGE), strict=True):
        assert await runtime.db["claims"].count_documents({}) == size
