"""Export's event handlers: adapters from events to the read model."""

from __future__ import annotations

from services.export.builder import DeliveryBuilder
from services.export.store import ExportStore
from shared.events import BatchSealed, ItemAccepted, ProjectUpserted, RoutingKey
from shared.messaging import Handler
from shared.messaging.handlers import apply_once, apply_once_in_groups


def handlers(store: ExportStore, builder: DeliveryBuilder) -> dict[RoutingKey, Handler]:
    return {
        RoutingKey.PROJECT_UPSERTED: apply_once(store.db, ProjectUpserted, store.projects.save),
        RoutingKey.BATCH_SEALED: apply_once(
            store.db, BatchSealed, store.seal_batch, after=lambda _: builder.notify()
        ),
        # Accepted items of one moment share a transaction: each bumps its batch's sequence,
        # and concurrent transactions on one batch would conflict.
        RoutingKey.ITEM_ACCEPTED: apply_once_in_groups(
            store.db, ItemAccepted, store.accept_items, after=lambda _: builder.notify()
        ),
    }
