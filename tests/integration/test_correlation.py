"""A correlation id travels from the client's request through every event that follows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from aviary_devkit.processes import ServiceSet
from shared.events import Envelope
from shared.messaging import Broker
from shared.messaging.topology import exchange_name
from tests.support import Api, jpeg, workspace


@pytest.fixture
async def tap(services: ServiceSet) -> AsyncIterator[asyncio.Queue[Envelope]]:
    """Every event published in the services' namespace, as it is published."""
    broker = Broker(services.settings)
    await broker.connect()
    channel = await broker.channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange_name(services.settings.namespace), routing_key="#")
    seen: asyncio.Queue[Envelope] = asyncio.Queue()

    async def on_message(message: object) -> None:
        seen.put_nowait(Envelope.model_validate_json(message.body))  # type: ignore[attr-defined]
        await message.ack()  # type: ignore[attr-defined]

    await queue.consume(on_message)
    yield seen
    await channel.close()
    await broker.close()


async def next_event(seen: asyncio.Queue[Envelope], type_: str, key: str, value: str) -> Envelope:
    while True:
        envelope = await asyncio.wait_for(seen.get(), 20)
        if envelope.type == type_ and envelope.data.get(key) == value:
            return envelope


async def test_correlation_id_is_carried_from_request_through_events(
    api: Api, tap: asyncio.Queue[Envelope]
) -> None:
    ws = await asyncio.to_thread(workspace, api, 0, review={"mode": "auto"})
    upload = await asyncio.to_thread(
        api.call,
        "POST",
        "ingest",
        f"/v1/batches/{ws.batch_id}/items",
        ws.client.token,
        content=jpeg(77),
        headers={"content-type": "image/jpeg", "x-correlation-id": "push-77"},
    )
    assert upload.status_code == 201
    item_id = upload.json()["id"]
    ingested = await next_event(tap, "item.ingested", "item_id", item_id)
    assert ingested.correlation_id == "push-77"

    task = (await asyncio.to_thread(api.next_task, ws.annotators[0])).json()
    body = {"lease_id": task["lease_id"], "annotation": {"shapes": []}}
    submitted = await asyncio.to_thread(
        api.call,
        "POST",
        "dispatch",
        f"/v1/tasks/{task['id']}/submit",
        ws.annotators[0],
        json=body,
        headers={"x-correlation-id": "submit-77"},
    )
    assert submitted.status_code == 200
    event = await next_event(tap, "task.submitted", "item_id", item_id)
    assert event.correlation_id == "submit-77"
    # Review accepts it in its consumer: the event it emits keeps the id it was handed.
    accepted = await next_event(tap, "item.accepted", "item_id", item_id)
    assert accepted.correlation_id == "submit-77"
