"""The RabbitMQ connection: topology declaration and publishing with publisher confirms.

One URL (the default): aio-pika's robust connection, which reconnects to that URL and
restores its channels and consumers by itself. Several URLs (`AVIARY_AMQP_URLS`, a cluster's
nodes): plain connections that this class replaces with one to another node when its node
goes away (see failover.py), re-declaring the topology and re-attaching the consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from shared.events import Envelope
from shared.messaging.failover import CONNECT_ERRORS, after_loss, connect_any, redact, rotation
from shared.messaging.topology import DELIVERY_LIMIT, SUBSCRIPTIONS, QueueNames, exchange_name
from shared.observability import EVENTS_PUBLISHED, service_name
from shared.settings import Settings

log = logging.getLogger(__name__)

QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}
# A node that accepts TCP but cannot answer (paused, cut off from the majority) is given up on
# after this long, and the next one tried.
NODE_TIMEOUT_S = 15.0

ReconnectHook = Callable[[], Awaitable[None]]


def quorum_arguments(settings: Settings) -> dict[str, Any]:
    """Arguments of every quorum queue: the type and, on a cluster, its initial members."""
    if settings.quorum_group_size:
        return {**QUORUM, "x-quorum-initial-group-size": settings.quorum_group_size}
    return dict(QUORUM)


class Broker:
    """One connection per process, a confirming channel for publishing."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.urls = settings.broker_urls
        self.connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        # Failover only (several URLs): the node in use, whether its connection is up, what
        # to re-attach after moving to another node.
        self.node = random.randrange(len(self.urls))
        self._up = False
        self._closing = False
        self._failover: asyncio.Task[None] | None = None
        self._reconnect_hooks: list[ReconnectHook] = []

    @property
    def fails_over(self) -> bool:
        return len(self.urls) > 1

    async def connect(self, attempts: int = 30) -> None:
        """Connect, waiting with back-off while the broker is not up yet."""
        self._closing = False
        retry_on = (
            CONNECT_ERRORS
            if self.fails_over
            else (ConnectionError, OSError, aio_pika.exceptions.AMQPConnectionError)
        )
        delay = 0.2
        for attempt in range(1, attempts + 1):
            try:
                if self.fails_over:
                    # Each node once from the current one; _open declares the topology.
                    order = rotation(len(self.urls), self.node)
                    self.node, _ = await connect_any(self.urls, order, self._open)
                    return
                self.connection = await aio_pika.connect_robust(self.urls[0])
                break
            except retry_on as exc:
                if attempt == attempts:
                    raise
                log.warning("broker.connect_retry", extra={"attempt": attempt, "error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        assert self.connection is not None
        self._channel = await self.connection.channel(publisher_confirms=True)
        await declare_topology(self._channel, self.settings)
        self._exchange = await self._channel.get_exchange(exchange_name(self.settings.namespace))

    async def _open(self, url: str) -> AbstractConnection:
        """Failover: connect to one node and declare the topology there, or raise."""
        connection = await aio_pika.connect(url, timeout=NODE_TIMEOUT_S)
        try:
            channel = await asyncio.wait_for(
                connection.channel(publisher_confirms=True), NODE_TIMEOUT_S
            )
            await asyncio.wait_for(declare_topology(channel, self.settings), NODE_TIMEOUT_S)
            exchange = await asyncio.wait_for(
                channel.get_exchange(exchange_name(self.settings.namespace)), NODE_TIMEOUT_S
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.close()
            raise
        self.connection, self._channel, self._exchange = connection, channel, exchange
        self._up = True
        connection.close_callbacks.add(self._lost)
        log.info("broker.connected", extra={"node": redact(url)})
        return connection

    def _lost(self, connection: Any, exc: BaseException | None = None) -> None:
        """Failover: the node's connection closed. Unless we closed it, move to another."""
        current = self.connection
        if self._closing or current is None or connection is not current or current.close_called:
            return
        self._up = False
        log.warning(
            "broker.connection_lost",
            extra={"node": redact(self.urls[self.node]), "error": repr(exc)[:300]},
        )
        if self._failover is None or self._failover.done():
            self._failover = asyncio.create_task(self._fail_over(), name="broker-failover")

    async def _fail_over(self) -> None:
        """Connect to the next node that answers (retrying with back-off until one does),
        then re-attach the consumers there."""
        delay = 0.2
        while not self._closing:
            old = self.connection
            try:
                order = after_loss(len(self.urls), self.node)
                self.node, _ = await connect_any(self.urls, order, self._open)
                if old is not None:
                    with contextlib.suppress(Exception):
                        await old.close()
                for hook in list(self._reconnect_hooks):
                    await hook()
            except Exception as exc:
                # No node answered, or the new one went away (or failed) while the consumers
                # attached: this loop must not die, or the process would stay disconnected.
                log.warning("broker.failover_retry", extra={"error": repr(exc)[:300]})
                if self.connection is not old and self.connection is not None:
                    self._up = False
                    with contextlib.suppress(Exception):
                        await self.connection.close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            log.warning("broker.failed_over", extra={"node": redact(self.urls[self.node])})
            return

    def on_reconnect(self, hook: ReconnectHook) -> None:
        """Run `hook` after the broker moved to another node (failover only: the robust
        single-node connection restores its channels and consumers itself)."""
        self._reconnect_hooks.append(hook)

    def remove_reconnect_hook(self, hook: ReconnectHook) -> None:
        with contextlib.suppress(ValueError):
            self._reconnect_hooks.remove(hook)

    @property
    def is_connected(self) -> bool:
        if self.connection is None or self.connection.is_closed:
            return False
        return self._up or not self.fails_over

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
        self._closing = True
        if self._failover is not None and not self._failover.done():
            self._failover.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._failover
        if self.connection is not None:
            await self.connection.close()
            self.connection = None
        self._up = False


async def declare_topology(channel: AbstractChannel, settings: Settings) -> None:
    """Declare the exchange and every service's queues, retry queues and dead-letter queue."""
    exchange = await channel.declare_exchange(
        exchange_name(settings.namespace), aio_pika.ExchangeType.TOPIC, durable=True
    )
    quorum = quorum_arguments(settings)
    for service, keys in SUBSCRIPTIONS.items():
        names = QueueNames(settings.namespace, service)
        await channel.declare_queue(names.dead_letter, durable=True, arguments=quorum)
        main = await channel.declare_queue(
            names.main,
            durable=True,
            arguments={
                **quorum,
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
                    **quorum,
                    "x-message-ttl": delay_ms,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": names.main,
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            )


async def delete_topology(settings: Settings) -> None:
    """Remove a namespace's queues and exchange (test clean-up; never used in production)."""
    urls = settings.broker_urls
    _, connection = await connect_any(urls, rotation(len(urls), 0), aio_pika.connect)
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
