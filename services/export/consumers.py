"""Export's event handlers: adapters from events to the read model."""

from __future__ import annotations

from services.export.intake import Intake
from shared.domain.projects import ProjectReadModel
from shared.events import BatchSealed, ItemAccepted, ItemDropped, ProjectUpserted, RoutingKey
from shared.messaging import Handler
from shared.messaging.handlers import apply_once, apply_once_in_groups
from shared.store.mongo import ServiceDatabase


def handlers(
    db: ServiceDatabase, projects: ProjectReadModel, intake: Intake
) -> dict[RoutingKey, Handler]:
    # The builder is woken by the intake when a delivery is requested, not by every event.
    return {
        RoutingKey.PROJECT_UPSERTED: apply_once(db, ProjectUpserted, projects.save),
        RoutingKey.BATCH_SEALED: apply_once(db, BatchSealed, intake.seal_batch),
        # Accepted items of one moment share a transaction: each bumps its batch's sequence,
        # and concurrent transactions on one batch would conflict.
        RoutingKey.ITEM_ACCEPTED: apply_once_in_groups(db, ItemAccepted, intake.accept_items),
        RoutingKey.ITEM_DROPPED: apply_once(db, ItemDropped, intake.drop_item),
    }
