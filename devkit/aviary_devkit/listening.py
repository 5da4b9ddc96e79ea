"""What the running services publish, heard through a queue of our own (tests and benchmarks).

The queue is exclusive and deleted with its channel: bound to the namespace's exchange under
the routing keys asked for, it gets a copy of every such event from the moment of binding,
without taking any from the services that consume them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from shared.events import Envelope
from shared.messaging import Broker
from shared.messaging.topology import exchange_name

Heard = Callable[[int], Awaitable[list[Envelope]]]
# How long an empty queue is left before it is asked again.
POLL_S = 0.02


@asynccontextmanager
async def listening(broker: Broker, *keys: str, timeout_s: float = 60) -> AsyncIterator[Heard]:
    """`heard(n)` waits (up to `timeout_s`) for the next `n` events, in the order published."""
    channel = await broker.channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    for key in keys:
        await queue.bind(exchange_name(broker.settings.namespace), routing_key=key)

    async def heard(n: int) -> list[Envelope]:
        events: list[Envelope] = []
        deadline = time.monotonic() + timeout_s
        while len(events) < n:
            message = await queue.get(no_ack=True, fail=False)
            if message is not None:
                events.append(Envelope.model_validate_json(message.body))
            elif time.monotonic() > deadline:
                raise TimeoutError(f"heard {len(events)} of {n} events")
            else:
                await asyncio.sleep(POLL_S)
        return events

    try:
        yield heard
    finally:
        await channel.close()
