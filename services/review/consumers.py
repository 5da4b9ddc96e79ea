"""Review's event handlers: adapters from events to the intake, then to the desk's queues."""

from __future__ import annotations

import logging

from services.review.desk import Desk
from services.review.domain import Answer, require_valid_answer
from services.review.intake import Intake
from services.review.repositories.gold import GoldRepository
from shared.domain.projects import ProjectReadModel
from shared.errors import AppError, RetryLater
from shared.events import (
    ItemAnnotationsImported,
    ItemDropped,
    ProjectUpserted,
    RoutingKey,
    TaskSubmitted,
)
from shared.messaging import Handler
from shared.messaging.handlers import KeyedWrites, apply_once, apply_once_in_groups
from shared.messaging.outbox import Outbox
from shared.store.mongo import AsyncClientSession, ServiceDatabase

log = logging.getLogger(__name__)


def handlers(
    db: ServiceDatabase,
    outbox: Outbox,
    projects: ProjectReadModel,
    intake: Intake,
    desk: Desk,
    gold: GoldRepository,
) -> dict[RoutingKey, Handler]:
    async def keep_imported_gold(
        session: AsyncClientSession, event: ItemAnnotationsImported
    ) -> None:
        """An imported known answer (proposals are dispatch's): kept if it is one a curator
        could have given; one that is not is logged and left (ingest checked it already)."""
        if not event.as_gold or event.image is None:
            return
        project = await projects.get(event.project_id)
        if project is None:
            raise RetryLater(f"project {event.project_id} not known yet")
        answer = Answer(event.annotation, None, None)
        try:
            require_valid_answer(answer, project, {"image": event.image.model_dump()})
        except AppError as exc:
            log.warning(
                "review.imported_gold_refused",
                extra={"item": event.item_id, "error": f"{exc.code}: {exc}"[:300]},
            )
            return
        await gold.add_imported(session, project, event)

    async def forget_dropped(event: ItemDropped) -> None:
        """Off this process's queue (other processes find them taken when they try)."""
        await desk.refresh(await desk.units.item_units(event))

    return {
        RoutingKey.ITEM_DROPPED: apply_once(
            db, ItemDropped, desk.units.drop_item, after=forget_dropped
        ),
        RoutingKey.PROJECT_UPSERTED: apply_once(
            db, ProjectUpserted, projects.save, after=projects.forget
        ),
        # Every submission is recorded under its own id (a gold one too), in the transaction
        # that takes its event in: that insert is the event's processed marker.
        RoutingKey.TASK_SUBMITTED: apply_once_in_groups(
            db,
            TaskSubmitted,
            intake.receive,
            after=lambda _: outbox.notify(),
            keyed=KeyedWrites(lambda e: e.submission_id, intake.submissions.existing),
        ),
        RoutingKey.ITEM_ANNOTATIONS_IMPORTED: apply_once(
            db, ItemAnnotationsImported, keep_imported_gold, after=lambda _: outbox.notify()
        ),
    }
