"""The RabbitMQ connection: topology declaration and publishing with publisher confirms."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from shared.events import Envelope
from shared.messaging.topology import DELIVERY_LIMIT, SUBSCRIPTIONS, QueueNames, exchange_name
from shared.observability import EVENTS_PUBLISHED, service_name
from shared.settings import Settings

log = logging.getLogger(__name__)

QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}


class Broker:
    """One robust connection per process, a confirming channel for publishing."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def connect(self, attempts: int = 30) -> None:
        """Connect, waiting with back-off while the broker is not up yet."""
        delay = 0.2
        for attempt in range(1, attempts + 1):
            try:
                self.connection = await aio_pika.connect_robust(self.settings.amqp_url)
                break
            except (ConnectionError, OSError, aio_pika.exceptions.AMQPConnectionError) as exc:
                if attempt == attempts:
                    raise
                log.warning("broker.connect_retry", extra={"attempt": attempt, "error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        assert self.connection is not None
        self._channel = await self.connection.channel(publisher_confirms=True)
        await declare_topology(self._channel, self.settings)
        self._exchange = await self._channel.get_exchange(exchange_name(self.settings.namespace))

    @property
    def is_connected(self) -> bool:
        return self.connection is not None and not self.connection.is_closed

    async def channel(self) -> AbstractChannel:
        """A new channel for a consumer (consumers and the publisher never share one)."""
        assert self.connection is not None, "connect() first"
        return await self.connection.channel(publisher_confirms=True)

    async def publish(self, envelope: Envelope) -> None:
        """Publish one event; returns once the broker has confirmed it (persisted)."""
        await self.publish_raw(
            envelope.type.value,
            envelope.model_dump_json().encode(),
            envelope.event_id,
            envelope.correlation_id,
        )
        EVENTS_PUBLISHED.labels(service_name.get(), envelope.type.value).inc()

    async def publish_raw(
        self, routing_key: str, body: bytes, message_id: str, correlation_id: str | None
    ) -> None:
        assert self._exchange is not None, "connect() first"
        await self._exchange.publish(
            aio_pika.Message(
                body,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message_id,
                correlation_id=correlation_id,
            ),
            routing_key=routing_key,
        )

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
            self.connection = None


async def declare_topology(channel: AbstractChannel, settings: Settings) -> None:
    """Declare the exchange and every service's queues, retry queues and dead-letter queue."""
    exchange = await channel.declare_exchange(
        exchange_name(settings.namespace), aio_pika.ExchangeType.TOPIC, durable=True
    )
    for service, keys in SUBSCRIPTIONS.items():
        names = QueueNames(settings.namespace, service)
        await channel.declare_queue(names.dead_letter, durable=True, arguments=QUORUM)
        main = await channel.declare_queue(
            names.main,
            durable=True,
            arguments={
                **QUORUM,
                "x-delivery-limit": DELIVERY_LIMIT,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": names.dead_letter,
            },
        )
        for key in keys:
            await main.bind(exchange, routing_key=key.value)
        for delay_ms in settings.retry_delays_ms:
            # Expired messages go straight back to this service's queue (not to every
            # subscriber of the event), and at-least-once dead-lettering loses none on the way.
            await channel.declare_queue(
                names.retry(delay_ms),
                durable=True,
                arguments={
                    **QUORUM,
                    "x-message-ttl": delay_ms,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": names.main,
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            )


async def delete_topology(settings: Settings) -> None:
    """Remove a namespace's queues and exchange (test clean-up; never used in production)."""
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        for service in SUBSCRIPTIONS:
            names = QueueNames(settings.namespace, service)
            for queue in (
                names.main,
                names.dead_letter,
                *(names.retry(d) for d in settings.retry_delays_ms),
            ):
                await channel.queue_delete(queue)
        await channel.exchange_delete(exchange_name(settings.namespace))
    finally:
        await connection.close()
