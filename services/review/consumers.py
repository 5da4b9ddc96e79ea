"""Review's event handlers: adapters from events to the store, then to the desk's queues."""

from __future__ import annotations

from collections.abc import Sequence

from services.review.desk import Desk
from services.review.store import ReviewStore
from shared.events import ProjectUpserted, RoutingKey, TaskSubmitted
from shared.messaging import Handler
from shared.messaging.handlers import apply_once, apply_once_in_groups


def handlers(store: ReviewStore, desk: Desk) -> dict[RoutingKey, Handler]:
    async def queue_for_review(events: Sequence[TaskSubmitted]) -> None:
        store.outbox.notify()
        await desk.refresh([e.submission_id for e in events] + [f"cns_{e.item_id}" for e in events])

    return {
        RoutingKey.PROJECT_UPSERTED: apply_once(
            store.db, ProjectUpserted, store.projects.save, after=store.projects.forget
        ),
        RoutingKey.TASK_SUBMITTED: apply_once_in_groups(
            store.db, TaskSubmitted, store.receive_many, after=queue_for_review
        ),
    }
