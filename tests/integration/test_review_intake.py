"""Review's intake on real SecantusDB: the units a group of submissions queued for a human
reach the desk once that transaction commits (no read of them), and never from a
transaction that failed; the desk takes such a unit with one conditional write."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from aviary.contracts.projects import ReviewPolicy
from aviary_devkit.bench import review_bench
from services.review.deps import ReviewParts
from services.review.intake import Intake
from shared.runtime import Runtime
from shared.settings import Settings
from shared.store.mongo import AsyncClientSession, Doc
from tests.support import bench_submitted, service_runtime


@pytest.fixture
async def review(settings: Settings) -> AsyncIterator[tuple[Runtime, ReviewParts]]:
    async with service_runtime("review", settings) as runtime:
        parts = ReviewParts.build(runtime)
        every_one_reviewed = review_bench.project().model_copy(
            update={"review": ReviewPolicy(mode="all")}
        )

        async def save(session: AsyncClientSession) -> None:
            await parts.projects.save(session, every_one_reviewed)

        await runtime.db.transaction(save)
        yield runtime, parts


async def test_queued_units_reach_the_desk_only_once_committed(
    review: tuple[Runtime, ReviewParts], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, parts = review
    handed: list[list[Doc]] = []

    def queued(units: Sequence[Doc]) -> None:
        handed.append(list(units))

    intake = Intake(
        parts.projects,
        parts.submissions,
        parts.annotators,
        parts.gold,
        parts.overlaps,
        parts.units,
        parts.model_stats,
        runtime.outbox,
        parts.onboarding,
        queued=queued,
    )

    async def receive_then_fail(session: AsyncClientSession) -> None:
        await intake.receive(session, [bench_submitted(1)])
        raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        await runtime.db.transaction(receive_then_fail)
    assert handed == []
    assert await parts.units.submissions.count_documents({}) == 0

    async def receive(session: AsyncClientSession) -> None:
        await intake.receive(session, [bench_submitted(1), bench_submitted(2)])

    await runtime.db.transaction(receive)
    assert len(handed) == 1
    assert sorted(u["_id"] for u in handed[0]) == ["sub_00000001", "sub_00000002"]
    assert {u["status"] for u in handed[0]} == {"pending"}
    stored = await parts.units.load(["sub_00000001", "sub_00000002"])
    assert {d["_id"]: d["queue"] for d in stored} == {u["_id"]: u["queue"] for u in handed[0]}

    # Handed to the desk whole, a unit is taken with one conditional write, no read; the
    # answer is what a read would give.
    modified: list[str] = []
    modify = runtime.db.modify

    async def counted_modify(*args: Any, **kwargs: Any) -> Any:
        modified.append(args[1])
        return await modify(*args, **kwargs)

    monkeypatch.setattr(runtime.db, "modify", counted_modify)
    parts.desk.queued_here(handed[0])
    unit = await parts.desk.next_review(review_bench.VENDOR, "rev_1")
    assert unit is not None and unit["_id"] == "sub_00000001"
    assert unit["status"] == "in_review" and unit["lease"]["reviewer_id"] == "rev_1"
    assert [unit] == await parts.units.load(["sub_00000001"])
    assert modified == []

    # Taken meanwhile by a reviewer of another process: the write finds it taken, and the
    # read-and-test path says so too.
    assert await parts.units.claim("sub_00000002", "rev_9") is not None
    assert await parts.desk.next_review(review_bench.VENDOR, "rev_2") is None
    assert modified == ["sub_00000002", "sub_00000002"]
