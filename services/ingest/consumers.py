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
    # Events of one moment share a transaction: concurrent ones would update the same
    # counters and conflict. Both change an item's flag only where it is not set yet, and
    # count what they set, so a redelivery changes nothing and needs no processed marker.
    async def tasks_submitted(session: AsyncClientSession, events: Sequence[TaskSubmitted]) -> None:
        # Training and exam tasks are a person's own: no batch counts them.
        produced = {e.item_id: e.batch_id for e in events if e.stage == "production"}
        await ledger.mark_submitted(session, produced)

    async def items_accepted(session: AsyncClientSession, events: Sequence[ItemAccepted]) -> None:
        if images := {e.item_id: e.batch_id for e in events if e.clip is None}:
            await ledger.mark_accepted(session, images)
        clips = [(e.item_id, e.clip.index, e.clip.count) for e in events if e.clip is not None]
        if clips:
            batches = {e.item_id: e.batch_id for e in events}
            await ledger.mark_clips_accepted(session, clips, batches)

    return {
        RoutingKey.TASK_SUBMITTED: apply_once_in_groups(
            db, TaskSubmitted, tasks_submitted, idempotent=True
        ),
        RoutingKey.ITEM_ACCEPTED: apply_once_in_groups(
            db, ItemAccepted, items_accepted, idempotent=True
        ),
        RoutingKey.DELIVERY_READY: apply_once(db, DeliveryReady, batches.mark_delivered),
        RoutingKey.ITEM_DROPPED: apply_once(db, ItemDropped, ledger.mark_dropped),
        RoutingKey.DELETION_APPLIED: apply_once(db, DeletionApplied, deletions.applied),
    }
