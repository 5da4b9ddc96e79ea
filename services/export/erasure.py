"""What a deletion removes from export: the accepted annotations, the batches' progress,
every delivery package that holds a deleted item (a package holds its whole batch, so an
item's deletion removes its batch's packages; the client asks for a new one) with the
webhook log of those deliveries, and the project."""

from __future__ import annotations

from collections.abc import Iterable

from services.export.intake import Intake
from shared.events import DeletionRequested
from shared.store.erasure import NONE, Erasable, ErasurePlan, ObjectRef, Removal
from shared.store.mongo import AsyncClientSession, Doc

DELIVERIES = "deliveries"


def package(delivery: Doc) -> Iterable[ObjectRef]:
    if delivery.get("bucket") and delivery.get("object_key"):
        yield delivery["bucket"], delivery["object_key"]


def plan(intake: Intake) -> ErasurePlan:
    async def complete_without(
        session: AsyncClientSession, event: DeletionRequested, removal: Removal
    ) -> int:
        """An item's deletion: its batch completes without it, and the batch's packages
        (all deleted, since each held the item) are made again without it once complete."""
        if event.scope != "item":
            return 0
        accepted = removal.records.get("accepted_items", 0)
        changed = 0
        for batch_id in event.batch_ids:
            batch = await intake.batches.uncount(session, batch_id, event.units, accepted)
            if batch is not None:
                changed += 1
                await intake.request_full_delivery_if_complete(session, batch)
        return changed

    return ErasurePlan(
        collections=(
            Erasable("accepted_items"),
            Erasable("batches", batch="_id", item=None),
            Erasable(DELIVERIES, item=None, whole_batch=True, objects=package, part="packages"),
            Erasable("webhooks", *NONE, linked=("delivery_id", DELIVERIES, "_id")),
            Erasable("projects", project="_id", batch=None, item=None),
        ),
        then=complete_without,
    )
