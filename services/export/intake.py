"""Events into export's read model: a batch sealed, items accepted or dropped; and, in the same
transaction, the full delivery a sealed batch gets once every item in it is accepted (or
dropped).

Each is one transaction over several repositories (batches, accepted items, deliveries), so it
lives here rather than in any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from services.export.domain import delivery_options
from services.export.repositories import (
    AcceptedItemRepository,
    BatchRepository,
    DeliveryRepository,
)
from shared.domain.projects import ProjectReadModel
from shared.domain.tracks import clip_unit
from shared.events import BatchSealed, ItemAccepted, ItemDropped
from shared.store.mongo import AsyncClientSession, Doc, after_commit, utcnow


def unit_id(event: ItemAccepted) -> str:
    """What is accepted: an image item, or one clip of a video (`<item>#<clip>`)."""
    return clip_unit(event.item_id, event.clip.index if event.clip else None)


class Intake:
    def __init__(
        self,
        projects: ProjectReadModel,
        batches: BatchRepository,
        accepted: AcceptedItemRepository,
        deliveries: DeliveryRepository,
        delivery_requested: Callable[[], None] = lambda: None,
    ) -> None:
        self.projects = projects
        self.batches = batches
        self.accepted = accepted
        self.deliveries = deliveries
        # Wakes the builder once a transaction that requested a delivery commits: not after
        # every accepted item (each wake-up is a read of the pending deliveries).
        self.delivery_requested = delivery_requested

    async def seal_batch(self, session: AsyncClientSession, event: BatchSealed) -> None:
        batch = await self.batches.seal(session, event)
        await self.request_full_delivery_if_complete(session, batch)

    async def accept_items(
        self, session: AsyncClientSession, events: Sequence[ItemAccepted]
    ) -> None:
        """Keep the newest accepted annotation per item (per clip of a video), numbered by its
        batch's sequence.

        The items of one batch in this group share one number, taken in the transaction that
        saves them, so a delivery that read the batch's sequence N sees every item numbered
        up to N: incremental deliveries neither skip nor repeat. Reads and writes go by `_id`
        (one `$in` per batch), so the cost of an event stays flat as the batch grows.
        """
        by_batch: dict[str, dict[str, ItemAccepted]] = {}
        for event in events:  # the later event for an item wins, as it would one by one
            by_batch.setdefault(event.batch_id, {})[unit_id(event)] = event
        for latest in by_batch.values():
            await self._accept_into_batch(session, latest)

    async def _accept_into_batch(
        self, session: AsyncClientSession, latest: dict[str, ItemAccepted]
    ) -> None:
        seen = await self.accepted.known(session, latest)
        # A dropped item's units stay out, whatever review decided before it heard.
        latest = {unit: e for unit, e in latest.items() if not seen.get(unit, False)}
        if not latest:
            return
        known = [unit for unit in latest if unit in seen]
        fresh = [unit for unit in latest if unit not in seen]
        batch = await self.batches.number(session, next(iter(latest.values())), len(fresh))
        now = utcnow()
        fields = {
            unit: {**event.model_dump(mode="json"), "seq": batch["seq"], "accepted_at": now}
            for unit, event in latest.items()
        }
        if fresh:
            await self.accepted.add(
                session, [{"_id": item_id, **fields[item_id]} for item_id in fresh]
            )
        for item_id in known:
            await self.accepted.replace(session, item_id, fields[item_id])
        await self.request_full_delivery_if_complete(session, batch)

    async def drop_item(self, session: AsyncClientSession, event: ItemDropped) -> None:
        """An item out of its batch: its units no longer count as to be accepted, the ones
        accepted leave the deliveries, and the full delivery goes ahead without it."""
        dropped = {"reason": event.reason, "by": event.dropped_by, "at": utcnow()}
        units, accepted = await self.accepted.drop(session, event.units(), event.batch_id, dropped)
        if not units:
            return  # dropped before
        batch = await self.batches.drop(session, event, units, accepted)
        await self.request_full_delivery_if_complete(session, batch)

    async def request_full_delivery_if_complete(
        self, session: AsyncClientSession, batch: Doc
    ) -> None:
        """`batch` as this transaction left it (also after an item's deletion)."""
        if not batch.get("sealed"):
            return
        done = batch["accepted_count"] + batch.get("dropped_units", 0)
        if done < batch.get("unit_count", batch["item_count"]):
            return
        project = await self.projects.get(batch["project_id"])
        options = delivery_options(project, {}) if project is not None else None
        await self.deliveries.request_full(session, batch, options)
        after_commit(session, self.delivery_requested)
