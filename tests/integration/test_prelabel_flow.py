"""Pre-labels through ingest, dispatch and review against the running services: a project's
`assist` settings (the endpoint's secret write-only), items published as waiting for their
pre-labels on every way in, tasks made from `item.prelabeled` only, proposals offered least
sure first, provenance checked on submit, and per model how people treated the proposals.

The pre-labels themselves are published here, as assist would: this is the flow around it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aviary_devkit.listening import listening
from aviary_devkit.media.video import render
from shared.events import (
    Annotation,
    BoxShape,
    Envelope,
    ItemIngested,
    ItemPrelabeled,
    ProjectUpserted,
    ShapeSource,
    TaskSubmitted,
)
from shared.messaging import Broker, QueueNames
from tests.integration.test_audio_flow import AUDIO_PROJECT, upload_recording, wav
from tests.integration.test_event_faults import broker, image, settle, task_counts
from tests.integration.test_ingest_features import ImageServer
from tests.integration.test_video_flow import VIDEO_PROJECT, upload_video
from tests.support import Api, Workspace, jpeg, workspace

__all__ = ["broker"]  # the fixture, shared with test_event_faults.py

SECRET = "endpoint-secret-0123456789"
ENDPOINT = {"url": "https://models.example.com/v1/predict", "secret": SECRET}
PRELABELED = {"assist": {"prelabel_model": "cars", "min_confidence": 0.4}}


async def deliver(broker: Broker, service: str, envelope: Envelope) -> None:
    """An event for one service alone: its queue is bound for a moment to a key of the
    event's own (consumers go by the envelope's type). Here an `item.ingested` for dispatch
    only, which assist, subscribed to it too, would otherwise pre-label itself: this test
    plays assist."""
    names = QueueNames(broker.settings.namespace, service)
    key = f"test.{service}.{envelope.event_id}"
    channel = await broker.channel()
    try:
        queue = await channel.declare_queue(names.main, passive=True)
        await queue.bind(names.exchange, routing_key=key)
        await broker.publish_raw(key, envelope.model_dump_json().encode(), envelope.event_id, None)
        await queue.unbind(names.exchange, routing_key=key)
    finally:
        await channel.close()


def waiting_item(ws: Workspace, item_id: str) -> ItemIngested:
    return ItemIngested(
        item_id=item_id,
        project_id=ws.project["id"],
        batch_id=ws.batch_id,
        org_id=ws.client.org_id,
        image=image(item_id),
        prelabel=True,
    )


def proposal(x: float, confidence: float, model: str = "cars@2") -> BoxShape:
    source = ShapeSource(by="model", model=model, confidence=confidence)
    return BoxShape(class_id=1, bbox=(x, 10, 40, 30), source=source)


def prelabeled(item: ItemIngested, *shapes: BoxShape) -> ItemPrelabeled:
    confidence = min((s.source.confidence or 1 for s in shapes if s.source), default=None)
    return ItemPrelabeled(
        **item.model_dump(exclude={"pre_annotation"}),
        pre_annotation=Annotation(shapes=shapes),
        confidence=confidence,
        model="cars@2",
    )


def lease(api: Api, token: str) -> dict[str, Any]:
    response = api.next_task(token, wait_s=5)
    assert response.status_code == 200, response.text
    return dict(response.json())


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


# ----- ingest ------------------------------------------------------------------------------------


async def test_assist_settings_are_published_and_the_endpoints_secret_never_shown(
    api: Api, broker: Broker
) -> None:
    client, vendor = api.client(), api.org("vendor")
    assist = {"endpoint": ENDPOINT, "least_confident_first": True}
    async with listening(broker, "project.upserted") as heard:
        project = api.project(client, vendor, assist=assist)
        path = f"/v1/projects/{project['id']}"
        for shown in (project, api.ok("GET", "ingest", path, client.token)):
            assert shown["assist"]["endpoint"]["url"] == ENDPOINT["url"]
            assert shown["assist"]["endpoint"]["secret"] is None
            assert shown["assist"]["least_confident_first"] is True
        listed = api.ok("GET", "ingest", "/v1/projects", client.token)
        assert SECRET not in str(listed)
        # Sent again without its secret: the secret stays (as a webhook's does).
        body = {
            "name": "v2",
            "ontology": {"classes": [{"id": 1, "name": "car"}]},
            "vendors": [{"vendor_id": vendor, "share": 1.0}],
            "assist": {"endpoint": {"url": ENDPOINT["url"]}},
        }
        assert api.ok("PUT", "ingest", path, client.token, json=body)["version"] == 2
        versions = [e.payload() for e in await heard(2)]
    # Assist is sent the secret to sign its calls with.
    confident_first = []
    for event in versions:
        assert isinstance(event, ProjectUpserted) and event.assist.endpoint is not None
        assert event.assist.endpoint.secret == SECRET
        confident_first.append(event.assist.least_confident_first)
    assert confident_first == [True, False]

    inward = {**body, "assist": {"endpoint": {**ENDPOINT, "url": "http://169.254.169.254/x"}}}
    refused = api.call("PUT", "ingest", path, client.token, json=inward)
    assert refused.status_code == 422 and error_code(refused) == "unsafe_url"
    unsigned = {"endpoint": {"url": ENDPOINT["url"]}}
    body = {
        "name": "no secret",
        "ontology": {"classes": [{"id": 1, "name": "car"}]},
        "vendors": [{"vendor_id": vendor, "share": 1.0}],
        "assist": unsigned,
    }
    refused = api.call("POST", "ingest", "/v1/projects", client.token, json=body)
    assert refused.status_code == 422 and error_code(refused) == "endpoint_secret_required"


@pytest.fixture
def image_server() -> Iterator[ImageServer]:
    server = ImageServer()
    yield server
    server.server.shutdown()


async def test_every_item_of_a_project_with_a_pre_labeler_waits_for_its_pre_labels(
    api: Api, broker: Broker, image_server: ImageServer
) -> None:
    plain = workspace(api, images=0)
    images = workspace(api, images=0, **PRELABELED)
    client, vendor = images.client, images.vendor_id
    video = api.project(client, vendor, **VIDEO_PROJECT, **PRELABELED)
    audio = api.project(client, vendor, **AUDIO_PROJECT, **PRELABELED)
    video_batch, audio_batch = api.batch(client, video["id"]), api.batch(client, audio["id"])
    async with listening(broker, "item.ingested") as heard:
        assert api.upload(plain.client, plain.batch_id, jpeg(501)).status_code == 201
        assert api.upload(client, images.batch_id, jpeg(502)).status_code == 201
        imports = f"/v1/batches/{images.batch_id}/imports"
        urls = {"urls": [{"url": image_server.url("/good.jpg")}]}
        api.ok("POST", "ingest", imports, client.token, json=urls)
        clip = render(frames=12, width=160, height=120)
        assert upload_video(api, client, video_batch, clip, "a.mp4").status_code == 201
        recorded = upload_recording(api, client.token, audio_batch, wav(3.0), "a.wav")
        assert recorded.status_code == 201, recorded.text
        events = [e.payload() for e in await heard(5)]
    waiting: dict[str, list[bool]] = {}
    for event in events:
        assert isinstance(event, ItemIngested)
        waiting.setdefault(event.project_id, []).append(event.prelabel)
    assert waiting[plain.project["id"]] == [False]
    assert waiting[images.project["id"]] == [True, True]  # an upload and a URL import
    assert waiting[video["id"]] == [True]
    assert waiting[audio["id"]] == [True]


# ----- dispatch and review -----------------------------------------------------------------------


async def test_a_waiting_item_is_offered_with_its_proposals_once_they_come(
    api: Api, broker: Broker
) -> None:
    ws = workspace(api, images=0, review={"mode": "auto"})
    api.wait_for(lambda: api.call("GET", "dispatch", stats_path(ws), api.operator).is_success)
    item = waiting_item(ws, "itm_wait")
    await deliver(broker, "dispatch", Envelope.wrap(item))
    await settle()
    assert task_counts(api, ws.project["id"]) == {}  # it waits for its pre-labels

    hand_drawn = BoxShape(class_id=2, bbox=(300, 200, 20, 40))  # the client's, kept beside
    labeled = prelabeled(item, proposal(10, 0.9), proposal(100, 0.6), hand_drawn)
    envelope = Envelope.wrap(labeled)
    await broker.publish(envelope)
    api.wait_for(lambda: task_counts(api, ws.project["id"]).get("pending"))
    await broker.publish(envelope)  # a redelivery: still one task
    await settle()
    assert task_counts(api, ws.project["id"]) == {"pending": 1}

    task = lease(api, ws.annotators[0])
    shapes = task["pre_annotation"]["shapes"]
    assert [s["source"] for s in shapes[:2]] == [
        {"by": "model", "model": "cars@2", "confidence": 0.9},
        {"by": "model", "model": "cars@2", "confidence": 0.6},
    ]
    assert shapes[2].get("source") is None

    kept, edited = dict(shapes[0]), dict(shapes[1])
    edited.update(bbox=[104, 12, 40, 30], source={**edited["source"], "by": "model_edited"})
    invented = {"class_id": 1, "bbox": [400, 10, 40, 30], "source": {"by": "model", "model": "x@1"}}
    refused = api.submit(ws.annotators[0], task, [kept, invented])
    assert refused.status_code == 422 and error_code(refused) == "unknown_source"

    async with listening(broker, "task.submitted") as heard:
        assert api.submit(ws.annotators[0], task, [kept, edited]).status_code == 200
        (envelope,) = await heard(1)
    event = envelope.payload()
    assert isinstance(event, TaskSubmitted)
    assert event.proposed == {"cars@2": 2}

    stats_url = f"/v1/projects/{ws.project['id']}/assist-stats"
    expected = [
        {
            "model": "cars@2",
            "proposed": 2,
            "kept": 1,
            "edited": 1,
            "deleted": 0,
            "correction_rate": 0.5,
        }
    ]
    api.wait_for(lambda: api.ok("GET", "review", stats_url, ws.client.token) == expected)
    await broker.publish(envelope)  # delivered again: counted once
    await settle()
    assert api.ok("GET", "review", stats_url, ws.client.token) == expected

    admin = api.token(ws.vendor_id, "vendor_admin", "boss")
    assert api.ok("GET", "review", stats_url, admin) == expected
    assert api.ok("GET", "review", stats_url, api.operator) == expected
    outsider = api.token(api.org("vendor"), "vendor_admin", "boss")
    assert api.call("GET", "review", stats_url, outsider).status_code == 404
    assert api.call("GET", "review", stats_url, api.client().token).status_code == 404
    assert api.call("GET", "review", stats_url, ws.annotators[0]).status_code == 403


def stats_path(ws: Workspace) -> str:
    return f"/v1/projects/{ws.project['id']}/task-stats"


async def test_least_sure_pre_labels_are_offered_first_when_the_project_asks(
    api: Api, broker: Broker
) -> None:
    ws = workspace(api, images=0, assist={"least_confident_first": True})
    api.wait_for(lambda: api.call("GET", "dispatch", stats_path(ws), api.operator).is_success)
    sure = {"itm_sure": 0.95, "itm_unsure": 0.35, "itm_middling": 0.6}
    for item_id, confidence in sure.items():
        await broker.publish(
            Envelope.wrap(prelabeled(waiting_item(ws, item_id), proposal(10, confidence)))
        )
    api.wait_for(lambda: task_counts(api, ws.project["id"]).get("pending") == 3)
    await settle(api.services.settings.pool_sync_s + 0.5)
    order = [lease(api, ws.annotators[0])["item_id"] for _ in sure]
    assert order == ["itm_unsure", "itm_middling", "itm_sure"]
