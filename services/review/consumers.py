"""Review's event handlers: adapters from events to the intake, then to the desk's queues."""

from __future__ import annotations

from collections.abc import Sequence

from services.review.desk import Desk
from services.review.domain import dispute_id
from services.review.intake import Intake
from shared.domain.projects import ProjectReadModel
from shared.events import ProjectUpserted, RoutingKey, TaskSubmitted
from shared.messaging import Handler
from shared.messaging.handlers import apply_once, apply_once_in_groups
from shared.messaging.outbox import Outbox
from shared.store.mongo import ServiceDatabase


def handlers(
    db: ServiceDatabase, outbox: Outbox, projects: ProjectReadModel, intake: Intake, desk: Desk
) -> dict[RoutingKey, Handler]:
    async def queue_for_review(events: Sequence[TaskSubmitted]) -> None:
        outbox.notify()
        disputes = [dispute_id(e.item_id, e.clip.index if e.clip else None) for e in events]
        await desk.refresh([e.submission_id for e in events] + disputes)

    return {
        RoutingKey.PROJECT_UPSERTED: apply_once(
            db, ProjectUpserted, projects.save, after=projects.forget
        ),
        RoutingKey.TASK_SUBMITTED: apply_once_in_groups(
            db, TaskSubmitted, intake.receive, after=queue_for_review
        ),
    }
