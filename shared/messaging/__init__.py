"""Messaging over RabbitMQ: topology, publishing with confirms, consuming with retries."""

from shared.messaging.broker import Broker, declare_topology, delete_topology
from shared.messaging.consumer import (
    Consumer,
    Handler,
    dead_letter_count,
    queue_counts,
    replay_dead_letters,
)
from shared.messaging.topology import SUBSCRIPTIONS, QueueNames

__all__ = [
    "SUBSCRIPTIONS",
    "Broker",
    "Consumer",
    "Handler",
    "QueueNames",
    "dead_letter_count",
    "declare_topology",
    "delete_topology",
    "queue_counts",
    "replay_dead_letters",
]
