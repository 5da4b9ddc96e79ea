"""Consuming events: manual acks after the handler committed, retries, dead letters, replay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError

from shared.errors import PermanentFailure, RetryLater
from shared.events import Envelope, RoutingKey
from shared.messaging.broker import Broker
from shared.messaging.retry import ATTEMPT_HEADER, DeadLetter, Retry, plan_after_failure
from shared.messaging.topology import QueueNames
from shared.observability import EVENTS_CONSUMED, correlation_id, note_event_age

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]


class Consumer:
    """Runs one service's handlers on its queue; at-least-once, never ack-and-drop."""

    def __init__(
        self, broker: Broker, service: str, handlers: Mapping[RoutingKey, Handler]
    ) -> None:
        self.broker = broker
        self.service = service
        self.handlers = dict(handlers)
        self.names = QueueNames(broker.settings.namespace, service)
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        await self._attach()
        # After a failover to another node (a cluster), consume there; the messages this
        # consumer held unacked on the lost node are redelivered to someone.
        self.broker.on_reconnect(self._attach)

    async def _attach(self) -> None:
        self._channel = await self.broker.channel()
        await self._channel.set_qos(prefetch_count=self.broker.settings.prefetch)
        self._queue = await self._channel.get_queue(self.names.main)
        self._tag = await self._queue.consume(self._on_message)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Take no new messages, let in-flight ones finish, then close (unacked are redelivered)."""
        self.broker.remove_reconnect_hook(self._attach)
        if self._queue is not None and self._tag is not None:
            await self._queue.cancel(self._tag)
            self._tag = None
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            log.warning("consumer.stop_timeout", extra={"in_flight": self._in_flight})
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._in_flight += 1
        self._idle.clear()
        token = correlation_id.set(message.correlation_id)
        try:
            await self._process(message)
        finally:
            correlation_id.reset(token)
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _process(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = Envelope.model_validate_json(message.body)
            handler = self.handlers.get(envelope.type)
            if handler is None:
                raise PermanentFailure(f"{self.service} has no handler for {envelope.type}")
        except (ValidationError, PermanentFailure) as exc:
            await self._fail(message, "unknown", PermanentFailure(str(exc)))
            return
        try:
            await handler(envelope)
        except Exception as exc:
            await self._fail(message, envelope.type.value, exc)
            return
        await message.ack()
        EVENTS_CONSUMED.labels(self.service, envelope.type.value, "ok").inc()
        age = (datetime.now(UTC) - envelope.occurred_at).total_seconds()
        note_event_age(self.service, max(0.0, age))

    async def _fail(self, message: AbstractIncomingMessage, kind: str, exc: Exception) -> None:
        headers: dict[str, Any] = dict(message.headers or {})
        attempt = int(headers.get(ATTEMPT_HEADER, 0)) + 1
        settings = self.broker.settings
        plan = plan_after_failure(attempt, settings.max_attempts, settings.retry_delays_ms, exc)
        headers[ATTEMPT_HEADER] = attempt
        headers["x-aviary-error"] = repr(exc)[:500]
        if isinstance(plan, Retry):
            target, outcome = self.names.retry(plan.delay_ms), "retried"
            level = logging.INFO if isinstance(exc, RetryLater) else logging.WARNING
        else:
            assert isinstance(plan, DeadLetter)
            target, outcome, level = self.names.dead_letter, "dead_lettered", logging.ERROR
            headers["x-aviary-dead-lettered-at"] = datetime.now(UTC).isoformat()
            headers["x-aviary-reason"] = plan.reason[:500]
        log.log(
            level,
            f"consumer.{outcome}",
            extra={
                "type": kind,
                "attempt": attempt,
                "error": repr(exc)[:500],
                "message_id": message.message_id,
            },
            exc_info=level >= logging.WARNING and not isinstance(exc, RetryLater),
        )
        try:
            await self._send_to_queue(target, message, headers)
        except Exception:
            # Could not park it: leave it on the main queue rather than lose it.
            log.exception("consumer.requeue", extra={"type": kind})
            await message.nack(requeue=True)
            return
        await message.ack()
        EVENTS_CONSUMED.labels(self.service, kind, outcome).inc()

    async def _send_to_queue(
        self, queue: str, message: AbstractIncomingMessage, headers: dict[str, Any]
    ) -> None:
        assert self._channel is not None
        await self._channel.default_exchange.publish(copy_message(message, headers), queue)


def copy_message(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    """A persistent copy of a received message with new headers (for retry, park, replay)."""
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
    )


async def queue_counts(broker: Broker, service: str) -> dict[str, int]:
    """Messages waiting in a service's queue (its consumer lag), its consumers, dead letters."""
    names = QueueNames(broker.settings.namespace, service)
    channel = await broker.channel()
    try:
        main = await channel.declare_queue(names.main, passive=True)
        dead = await channel.declare_queue(names.dead_letter, passive=True)
        return {
            "waiting": main.declaration_result.message_count or 0,
            "consumers": main.declaration_result.consumer_count or 0,
            "dead_letters": dead.declaration_result.message_count or 0,
        }
    finally:
        await channel.close()


async def dead_letter_count(broker: Broker, service: str) -> int:
    """How many messages sit in a service's dead-letter queue."""
    return (await queue_counts(broker, service))["dead_letters"]


async def replay_dead_letters(broker: Broker, service: str, limit: int = 10_000) -> int:
    """Move dead letters back onto the service's queue with a fresh attempt count."""
    names = QueueNames(broker.settings.namespace, service)
    channel = await broker.channel()
    moved = 0
    try:
        dlq = await channel.get_queue(names.dead_letter)
        while moved < limit:
            message = await dlq.get(no_ack=False, fail=False)
            if message is None:
                break
            headers = {
                k: v
                for k, v in (message.headers or {}).items()
                if not k.startswith("x-aviary-") and not k.startswith("x-death")
            }
            await channel.default_exchange.publish(copy_message(message, headers), names.main)
            await message.ack()
            moved += 1
    finally:
        await channel.close()
    return moved
