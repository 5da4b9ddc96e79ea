"""Ingest's event handlers: batch progress from the other services' events, and their
reports of what they deleted."""

from __future__ import annotations

from collections.abc import Sequence

from services.ingest.deletions import Deletions
from services.ingest.ledger import BatchLedger
from services.ingest.repositories import BatchRepository
from shared.events import (
    DeletionApplied,
    DeliveryReady,
    ItemAccepted,
    ItemDropped,
    RoutingKey,
    TaskSubmitted,
)
from shared.messaging import Handler
from shared.messaging.handlers import apply_once, apply_once_in_groups
from shared.store.mongo import AsyncClientSession, ServiceDatabase


def handlers(
    db: ServiceDatabase, ledger: BatchLedger, batches: BatchRepository, deletions: Deletions
) -> dict[RoutingKey, Handler]:
    # Submissions and acceptances of one moment share a transaction: an item is accepted
    # milliseconds after its submission (review mode auto), and a group of each kind in
    # flight at once wrote the same item and counters, conflicted and retried. Both change an
    # item's flag only where it is not set yet, and count what they set, so a redelivery
    # changes nothing and needs no processed marker.
    async def progress(
        session: AsyncClientSession, events: Sequence[TaskSubmitted | ItemAccepted]
    ) -> None:
        submitted = {
            e.item_id: e.batch_id
            for e in events
            # Training and exam tasks are a person's own: no batch counts them.
            if isinstance(e, TaskSubmitted) and e.stage == "production"
        }
        accepted = [e for e in events if isinstance(e, ItemAccepted)]
        images = {e.item_id: e.batch_id for e in accepted if e.clip is None}
        await ledger.mark_progress(session, submitted=submitted, accepted=images)
        clips = [(e.item_id, e.clip.index, e.clip.count) for e in accepted if e.clip is not None]
        if clips:
            batches = {e.item_id: e.batch_id for e in accepted}
            await ledger.mark_clips_accepted(session, clips, batches)

    kinds: tuple[type[TaskSubmitted | ItemAccepted], ...] = (TaskSubmitted, ItemAccepted)
    in_progress = apply_once_in_groups(db, kinds, progress, idempotent=True)
    return {
        RoutingKey.TASK_SUBMITTED: in_progress,
        RoutingKey.ITEM_ACCEPTED: in_progress,
        RoutingKey.DELIVERY_READY: apply_once(db, DeliveryReady, batches.mark_delivered),
        RoutingKey.ITEM_DROPPED: apply_once(db, ItemDropped, ledger.mark_dropped),
        RoutingKey.DELETION_APPLIED: apply_once(db, DeletionApplied, deletions.applied),
    }
