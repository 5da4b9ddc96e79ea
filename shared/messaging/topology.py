"""The bus topology, declared in code: who subscribes to what, and the queue names.

Every service declares the whole topology at start-up (it is idempotent), so no event is
published before the queues that must receive it exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import RoutingKey

# Subscriptions registered in one place: service -> the events its consumers handle.
SUBSCRIPTIONS: dict[str, tuple[RoutingKey, ...]] = {
    "ingest": (
        RoutingKey.IMPORT_REQUESTED,
        RoutingKey.IMPORT_URLS_REQUESTED,
        RoutingKey.TASK_SUBMITTED,
        RoutingKey.ITEM_ACCEPTED,
        RoutingKey.DELIVERY_READY,
        RoutingKey.ITEM_DROPPED,
        RoutingKey.TOKEN_REVOKED,
        RoutingKey.DELETION_REQUESTED,
        RoutingKey.DELETION_APPLIED,
    ),
    "dispatch": (
        RoutingKey.PROJECT_UPSERTED,
        RoutingKey.ITEM_INGESTED,
        RoutingKey.ITEM_PRELABELED,
        RoutingKey.ITEM_ANNOTATIONS_IMPORTED,
        RoutingKey.TASK_REJECTED,
        RoutingKey.GOLD_UPDATED,
        RoutingKey.ONBOARDING_CHANGED,
        RoutingKey.TOKEN_REVOKED,
        RoutingKey.DELETION_REQUESTED,
    ),
    "review": (
        RoutingKey.PROJECT_UPSERTED,
        RoutingKey.TASK_SUBMITTED,
        RoutingKey.ITEM_ANNOTATIONS_IMPORTED,
        RoutingKey.ITEM_DROPPED,
        RoutingKey.TOKEN_REVOKED,
        RoutingKey.DELETION_REQUESTED,
    ),
    "export": (
        RoutingKey.PROJECT_UPSERTED,
        RoutingKey.BATCH_SEALED,
        RoutingKey.ITEM_ACCEPTED,
        RoutingKey.ITEM_DROPPED,
        RoutingKey.TOKEN_REVOKED,
        RoutingKey.DELETION_REQUESTED,
    ),
    "assist": (
        RoutingKey.PROJECT_UPSERTED,
        RoutingKey.ITEM_INGESTED,
        RoutingKey.TOKEN_REVOKED,
        RoutingKey.DELETION_REQUESTED,
    ),
}

# A message redelivered this many times without an ack (the consumer crashed on it each time)
# is dead-lettered by the broker itself: a poison message can never crash-loop a service.
DELIVERY_LIMIT = 20


@dataclass(frozen=True)
class QueueNames:
    """Names of one consuming service's queues under a namespace."""

    namespace: str
    service: str

    @property
    def exchange(self) -> str:
        return f"{self.namespace}.events"

    @property
    def main(self) -> str:
        return f"{self.namespace}.{self.service}"

    @property
    def dead_letter(self) -> str:
        return f"{self.main}.dlq"

    def retry(self, delay_ms: int) -> str:
        # The delay is in the name: queue arguments cannot change once declared.
        return f"{self.main}.retry.{delay_ms}ms"


def exchange_name(namespace: str) -> str:
    return f"{namespace}.events"
