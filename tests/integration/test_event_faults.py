"""Event-level faults against the running services: the same event twice, events out of
order, and a poison event that is dead-lettered, visible, and replayed by the ops command
once the fault is fixed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from typer.testing import CliRunner

from aviary.contracts.shapes import Annotation, BoxShape
from aviary_devkit.processes import ServiceSet
from services.ingest.repositories.projects import project_event
from services.review.repositories.annotators import record_id
from shared.events import Envelope, ImageRef, ItemIngested, TaskSubmitted
from shared.messaging import Broker, QueueNames, dead_letter_count, queue_counts
from shared.messaging.retry import ATTEMPT_HEADER
from shared.opscli import app
from shared.settings import get_settings
from shared.store.mongo import connect_mongo
from tests.support import Api, workspace


@pytest.fixture
async def broker(services: ServiceSet) -> AsyncIterator[Broker]:
    b = Broker(services.settings)
    await b.connect()
    yield b
    await b.close()


def image(name: str) -> ImageRef:
    return ImageRef(
        bucket="aviary-images",
        object_key=f"k/{name}",
        width=640,
        height=480,
        format="JPEG",
        sha256="0" * 64,
        file_name=name,
    )


def item_event(project_id: str, org_id: str, item_id: str) -> ItemIngested:
    return ItemIngested(
        item_id=item_id,
        project_id=project_id,
        batch_id="bat_x",
        org_id=org_id,
        image=image(item_id),
    )


def task_counts(api: Api, project_id: str) -> dict[str, int]:
    stats = api.call("GET", "dispatch", f"/v1/projects/{project_id}/task-stats", api.operator)
    if stats.status_code != 200:
        return {}
    counts: dict[str, int] = {}
    for states in stats.json()["by_vendor"].values():
        for state, n in states.items():
            counts[state] = counts.get(state, 0) + n
    return counts


async def settle(seconds: float = 1.5) -> None:
    """Give a wrongful second effect the time to show."""
    await asyncio.sleep(seconds)


async def test_the_same_event_three_times_has_one_effect(api: Api, broker: Broker) -> None:
    ws = workspace(api, images=0)
    envelope = Envelope.wrap(item_event(ws.project["id"], ws.client.org_id, "itm_dup"))
    for _ in range(3):  # a redelivery, or an outbox relay that crashed before marking it sent
        await broker.publish(envelope)
    api.wait_for(lambda: task_counts(api, ws.project["id"]).get("pending"))
    await settle()
    assert task_counts(api, ws.project["id"]) == {"pending": 1}
    # The same item under a new event id (a client retry upstream): still one task.
    await broker.publish(Envelope.wrap(item_event(ws.project["id"], ws.client.org_id, "itm_dup")))
    await settle()
    assert task_counts(api, ws.project["id"]) == {"pending": 1}


async def test_a_submission_delivered_three_times_is_recorded_and_counted_once(
    api: Api, broker: Broker, services: ServiceSet
) -> None:
    """Review marks a submission's event taken in by the submission it records (no processed
    marker): redelivered, or published again under a new event id, it changes nothing."""
    ws = workspace(api, images=0)
    project = ws.project
    submitted = TaskSubmitted(
        task_id="tsk_dup",
        submission_id="sub_dup",
        item_id="itm_dup",
        project_id=project["id"],
        batch_id=ws.batch_id,
        org_id=ws.client.org_id,
        vendor_id=ws.vendor_id,
        annotator_id="ann-dup",
        ontology_version=project["version"],
        image=image("itm_dup"),
        annotation=Annotation(shapes=(BoxShape(class_id=1, bbox=(10, 10, 40, 30)),)),
        rework=0,
        seconds_worked=3.0,
    )
    envelope = Envelope.wrap(submitted)
    for _ in range(3):
        await broker.publish(envelope)
    await broker.publish(Envelope.wrap(submitted))  # the same submission, a new event id
    client = connect_mongo(services.settings)
    review = client[services.settings.database_name("review")]
    try:

        async def recorded() -> int:
            return await review["submissions"].count_documents({"_id": "sub_dup"})

        deadline = time.monotonic() + 15
        while not await recorded() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await settle()
        assert await recorded() == 1
        key = record_id(project["id"], ws.vendor_id, "ann-dup")
        record = await review["annotators"].find_one({"_id": key})
        assert record is not None and record["submitted"] == 1
        assert await review["processed_events"].count_documents({"_id": envelope.event_id}) == 0
        # The copy under a new event id was absorbed too, not retried into the dead letters.
        assert await dead_letter_count(broker, "review") == 0
    finally:
        await client.close()


async def test_project_versions_out_of_order_leave_the_newest(api: Api, broker: Broker) -> None:
    ws = workspace(api, images=0, instructions="version one")
    project = api.ok("GET", "ingest", f"/v1/projects/{ws.project['id']}", ws.client.token)
    base = {
        "_id": project["id"],
        "webhook_secret": None,
        **{k: v for k, v in project.items() if k not in ("id", "webhook_secret_set")},
    }
    newer = project_event({**base, "version": 3, "instructions": "version three"})
    older = project_event({**base, "version": 2, "instructions": "version two"})
    await broker.publish(Envelope.wrap(newer))
    await broker.publish(Envelope.wrap(older))  # arrives late
    await settle()
    await broker.publish(Envelope.wrap(item_event(project["id"], ws.client.org_id, "itm_v")))
    task = api.wait_for(
        lambda: (r := api.next_task(ws.annotators[0], wait_s=1)).status_code == 200 and r.json()
    )
    assert task["instructions"] == "version three"
    assert task["ontology_version"] == 3


async def test_poison_event_is_dead_lettered_visible_and_replayed_once_fixed(
    api: Api, broker: Broker, services: ServiceSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace(api, images=0)
    ghost = "prj_not_yet_known"
    poison = Envelope.wrap(item_event(ghost, ws.client.org_id, "itm_poison"))
    await broker.publish(poison)
    # Retried max_attempts times (the project may yet arrive), then dead-lettered: visible.
    settings = services.settings
    names = QueueNames(settings.namespace, "dispatch")
    channel = await broker.channel()
    try:
        dead = await channel.declare_queue(names.dead_letter, passive=True)
        deadline = time.monotonic() + 30
        message = None
        while time.monotonic() < deadline:
            candidate = await dead.get(no_ack=False, fail=False)
            if candidate is not None and candidate.message_id == poison.event_id:
                message = candidate
                break
            if candidate is not None:
                await candidate.nack(requeue=True)
            await asyncio.sleep(0.2)
        assert message is not None, "the poison event was not dead-lettered"
        assert message.headers[ATTEMPT_HEADER] == settings.max_attempts
        assert "not known yet" in str(message.headers["x-aviary-error"])
        await message.nack(requeue=True)
    finally:
        await channel.close()
    assert (await queue_counts(broker, "dispatch"))["dead_letters"] >= 1
    # The fix: the project arrives. Then the ops command replays the dead letters.
    project = api.ok("GET", "ingest", f"/v1/projects/{ws.project['id']}", ws.client.token)
    fixed = project_event(
        {
            "_id": ghost,
            "webhook_secret": None,
            **{k: v for k, v in project.items() if k not in ("id", "webhook_secret_set")},
        }
    )
    await broker.publish(Envelope.wrap(fixed))
    await settle()
    monkeypatch.setenv("AVIARY_NAMESPACE", settings.namespace)
    get_settings.cache_clear()
    try:
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["--json", "dlq", "replay", "dispatch"]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["replayed"] >= 1
    api.wait_for(lambda: task_counts(api, ghost).get("pending") == 1)
