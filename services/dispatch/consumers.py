"""Dispatch's event handlers: adapters from events to the store, then to the pool."""

from __future__ import annotations

from collections.abc import Sequence

from services.dispatch.dispatcher import Dispatcher
from services.dispatch.domain import makes_tasks
from services.dispatch.onboarding import Onboarding
from services.dispatch.store import TaskStore
from shared.events import (
    GoldUpdated,
    ItemAnnotationsImported,
    ItemIngested,
    ItemPrelabeled,
    OnboardingChanged,
    ProjectUpserted,
    RoutingKey,
    TaskRejected,
)
from shared.messaging import Handler
from shared.messaging.handlers import apply_once, apply_once_in_groups
from shared.store.mongo import AsyncClientSession


def handlers(
    store: TaskStore, dispatcher: Dispatcher, onboarding: Onboarding
) -> dict[RoutingKey, Handler]:
    # An item with a pre-labeler makes its tasks when its pre-labels come (`item.prelabeled`).
    async def create_tasks(session: AsyncClientSession, events: Sequence[ItemIngested]) -> None:
        ready = [e for e in events if makes_tasks(e)]
        dispatcher.remember_created(await store.create_tasks_many(session, ready))

    async def offer_items(events: Sequence[ItemIngested]) -> None:
        await dispatcher.offer_created([e for e in events if makes_tasks(e)])

    async def offer_rework(event: TaskRejected) -> None:
        await dispatcher.refresh([event.task_id])

    changed: dict[str, list[str]] = {}  # by item, from the transaction to its commit

    async def add_imported(session: AsyncClientSession, event: ItemAnnotationsImported) -> None:
        if not event.as_gold:  # gold is review's to keep (it tells dispatch with gold.updated)
            changed[event.item_id] = await store.add_imported(session, event)

    async def offer_imported(event: ItemAnnotationsImported) -> None:
        await dispatcher.refresh(changed.pop(event.item_id, []))

    async def project_saved(event: ProjectUpserted) -> None:
        store.projects.forget(event)
        onboarding.project_changed(event)

    async def onboarding_changed(event: OnboardingChanged) -> None:
        onboarding.changed(event)

    return {
        RoutingKey.PROJECT_UPSERTED: apply_once(
            store.db, ProjectUpserted, store.save_project, after=project_saved
        ),
        RoutingKey.ONBOARDING_CHANGED: apply_once(
            store.db, OnboardingChanged, onboarding.repo.save, after=onboarding_changed
        ),
        RoutingKey.ITEM_INGESTED: apply_once_in_groups(
            store.db, ItemIngested, create_tasks, after=offer_items
        ),
        RoutingKey.ITEM_PRELABELED: apply_once_in_groups(
            store.db, ItemPrelabeled, create_tasks, after=offer_items
        ),
        RoutingKey.ITEM_ANNOTATIONS_IMPORTED: apply_once(
            store.db, ItemAnnotationsImported, add_imported, after=offer_imported
        ),
        RoutingKey.GOLD_UPDATED: apply_once(store.db, GoldUpdated, store.save_gold),
        RoutingKey.TASK_REJECTED: apply_once(
            store.db, TaskRejected, store.rework, after=offer_rework
        ),
    }
