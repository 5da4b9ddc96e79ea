"""Messaging against the real RabbitMQ: delivery, retries with back-off, dead letters, replay."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from shared.errors import PermanentFailure, RetryLater
from shared.events import BatchSealed, Envelope, RoutingKey
from shared.messaging import Broker, Consumer, dead_letter_count, replay_dead_letters
from shared.settings import Settings


def sealed(batch_id: str) -> Envelope:
    return Envelope.wrap(BatchSealed(batch_id=batch_id, project_id="p", org_id="o", item_count=1))


async def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("condition not met")


@pytest.fixture
async def broker(settings: Settings) -> AsyncIterator[Broker]:
    b = Broker(settings)
    await b.connect()
    yield b
    await b.close()


async def test_published_event_reaches_the_subscribed_service(broker: Broker) -> None:
    seen: list[Envelope] = []

    async def handle(envelope: Envelope) -> None:
        seen.append(envelope)

    consumer = Consumer(broker, "export", {RoutingKey.BATCH_SEALED: handle})
    await consumer.start()
    sent = sealed("b1")
    await broker.publish(sent)
    await wait_for(lambda: len(seen) == 1)
    await consumer.stop()
    assert seen[0].event_id == sent.event_id
    assert seen[0].payload() == sent.payload()


async def test_failing_message_is_dead_lettered_after_n_attempts_without_blocking_others(
    broker: Broker, settings: Settings
) -> None:
    attempts: Counter[str] = Counter()
    done: list[str] = []

    async def handle(envelope: Envelope) -> None:
        batch_id = envelope.data["batch_id"]
        attempts[batch_id] += 1
        if batch_id == "poison":
            raise RuntimeError("always fails")
        done.append(batch_id)

    consumer = Consumer(broker, "export", {RoutingKey.BATCH_SEALED: handle})
    await consumer.start()
    await broker.publish(sealed("poison"))
    for i in range(20):
        await broker.publish(sealed(f"good-{i}"))
    # Good messages flow while the poison one waits in the retry queues.
    await wait_for(lambda: len(done) == 20, timeout=5)
    await wait_for(lambda: attempts["poison"] == settings.max_attempts, timeout=10)
    await asyncio.sleep(0.5)  # give any wrongful extra attempt the chance to show
    await consumer.stop()
    assert attempts["poison"] == settings.max_attempts
    assert all(attempts[f"good-{i}"] == 1 for i in range(20))
    assert await dead_letter_count(broker, "export") == 1


async def test_dead_letters_replay_once_the_fault_is_fixed(broker: Broker) -> None:
    fixed = False
    done: list[str] = []

    async def handle(envelope: Envelope) -> None:
        if not fixed:
            raise PermanentFailure("a bug")  # dead-lettered at once, no retries
        done.append(envelope.event_id)

    consumer = Consumer(broker, "export", {RoutingKey.BATCH_SEALED: handle})
    await consumer.start()
    event = sealed("b")
    await broker.publish(event)
    await wait_for(lambda: consumer._in_flight == 0)
    await asyncio.sleep(0.3)
    assert await dead_letter_count(broker, "export") == 1
    fixed = True
    assert await replay_dead_letters(broker, "export") == 1
    await wait_for(lambda: done == [event.event_id])
    await consumer.stop()
    assert await dead_letter_count(broker, "export") == 0


async def test_retry_later_is_retried_until_it_succeeds(broker: Broker) -> None:
    calls: list[float] = []

    async def handle(envelope: Envelope) -> None:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise RetryLater("the project has not arrived yet")

    consumer = Consumer(broker, "export", {RoutingKey.BATCH_SEALED: handle})
    await consumer.start()
    await broker.publish(sealed("b"))
    await wait_for(lambda: len(calls) == 3)
    await consumer.stop()
    # Back-off: the two waits follow the configured tiers (100 ms, then 300 ms).
    assert calls[1] - calls[0] >= 0.09
    assert calls[2] - calls[1] >= 0.29
    assert await dead_letter_count(broker, "export") == 0


async def test_unparseable_message_is_dead_lettered(broker: Broker) -> None:
    consumer = Consumer(broker, "export", {})
    await consumer.start()
    await broker.publish_raw("batch.sealed", b"{not json", "bad-1", None)
    await wait_for(lambda: consumer._in_flight == 0)
    await asyncio.sleep(0.3)
    await consumer.stop()
    assert await dead_letter_count(broker, "export") == 1


async def test_unacked_message_is_redelivered_after_a_consumer_dies(
    broker: Broker, settings: Settings
) -> None:
    """A consumer that dies mid-handler (its connection drops) loses nothing."""
    started = asyncio.Event()

    async def stuck(envelope: Envelope) -> None:
        started.set()
        await asyncio.sleep(3600)

    dying = Broker(settings)
    await dying.connect()
    first = Consumer(dying, "export", {RoutingKey.BATCH_SEALED: stuck})
    await first.start()
    event = sealed("b")
    await broker.publish(event)
    await asyncio.wait_for(started.wait(), 5)
    assert dying.connection is not None
    await dying.connection.close()  # the process "dies" with the message unacked

    seen: list[str] = []

    async def handle(envelope: Envelope) -> None:
        seen.append(envelope.event_id)

    second = Consumer(broker, "export", {RoutingKey.BATCH_SEALED: handle})
    await second.start()
    await wait_for(lambda: seen == [event.event_id])
    await second.stop()
