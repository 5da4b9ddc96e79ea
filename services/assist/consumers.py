"""Assist's event handlers: adapters from events to the read models.

`item.ingested` arrives fast (an upload burst): the events handled at one moment share one
transaction. Whatever else must happen to an ingested item in that transaction (a pre-label
job queued) comes in as `also_on_items`; what must follow its commit as `after_items`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from services.assist.repositories import ItemRepository
from shared.domain.projects import ProjectReadModel
from shared.events import ItemIngested, ProjectUpserted, RoutingKey
from shared.messaging import Handler
from shared.messaging.handlers import apply_once, apply_once_in_groups
from shared.store.mongo import AsyncClientSession, ServiceDatabase

ItemsStep = Callable[[AsyncClientSession, Sequence[ItemIngested]], Awaitable[None]]
AfterItems = Callable[[Sequence[ItemIngested]], object]


def handlers(
    db: ServiceDatabase,
    projects: ProjectReadModel,
    items: ItemRepository,
    *,
    also_on_items: Sequence[ItemsStep] = (),
    after_items: AfterItems | None = None,
) -> dict[RoutingKey, Handler]:
    async def receive_items(session: AsyncClientSession, events: Sequence[ItemIngested]) -> None:
        await items.save_many(session, events)
        for step in also_on_items:
            await step(session, events)

    return {
        RoutingKey.PROJECT_UPSERTED: apply_once(
            db, ProjectUpserted, projects.save, after=projects.forget
        ),
        RoutingKey.ITEM_INGESTED: apply_once_in_groups(
            db, ItemIngested, receive_items, after=after_items
        ),
    }
