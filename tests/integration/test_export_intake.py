"""Export's intake on real SecantusDB: the builder is woken when a full delivery is requested,
once that transaction commits, and not by every accepted item."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.export.deps import ExportParts
from services.export.intake import Intake
from shared.events import BatchSealed
from shared.runtime import Runtime
from shared.settings import Settings
from shared.store.mongo import AsyncClientSession
from tests.support import bench_accepted, service_runtime


@pytest.fixture
async def export(settings: Settings) -> AsyncIterator[tuple[Runtime, ExportParts]]:
    async with service_runtime("export", settings) as runtime:
        parts = ExportParts.build(runtime)
        for repository in (parts.accepted, parts.deliveries):
            await repository.ensure_indexes()
        yield runtime, parts


async def test_the_builder_is_woken_once_the_full_delivery_is_requested(
    export: tuple[Runtime, ExportParts],
) -> None:
    runtime, parts = export
    wakes: list[str] = []
    intake = Intake(
        parts.projects, parts.batches, parts.accepted, parts.deliveries, lambda: wakes.append("!")
    )
    first = bench_accepted(1)
    sealed = BatchSealed(
        batch_id=first.batch_id, project_id=first.project_id, org_id=first.org_id, item_count=2
    )

    async def seal(session: AsyncClientSession) -> None:
        await intake.seal_batch(session, sealed)

    async def accept(session: AsyncClientSession, i: int) -> None:
        await intake.accept_items(session, [bench_accepted(i)])

    await runtime.db.transaction(seal)
    await runtime.db.transaction(lambda s: accept(s, 1))
    assert wakes == []  # one item of two: nothing to build

    async def accept_then_fail(session: AsyncClientSession) -> None:
        await accept(session, 2)
        raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        await runtime.db.transaction(accept_then_fail)
    assert wakes == []  # requested in a transaction that did not commit
    assert await parts.deliveries.deliveries.count_documents({}) == 0

    await runtime.db.transaction(lambda s: accept(s, 2))
    assert wakes == ["!"]
    pending = await parts.deliveries.deliveries.find({"status": "pending"}).to_list(None)
    assert [d["batch_id"] for d in pending] == [first.batch_id]
