"""The flagged-task queue against running services: who sees it, returning a task to the pool
or to another vendor, and dropping an item (its tasks end at once, review and ingest follow,
and the batch's full delivery completes without it)."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from typing import Any

from aviary_devkit.processes import ServiceSet
from shared.events import Annotation, Envelope, ImageRef, ItemAccepted, ItemDropped
from shared.messaging import Broker
from tests.integration.test_cli import run
from tests.support import Api, Workspace, jpeg, workspace

BOX = {"class_id": 1, "bbox": [10, 10, 50, 40]}
FLAGGED = "/v1/flagged-tasks"


def lease(api: Api, token: str, wait_s: float = 5) -> dict[str, Any]:
    response = api.next_task(token, wait_s=wait_s)
    assert response.status_code == 200, response.text
    return dict(response.json())


def skip(api: Api, token: str, task: dict[str, Any], comment: str = "") -> None:
    body = {"lease_id": task["lease_id"], "reason": "unreadable_image", "comment": comment}
    path = f"/v1/tasks/{task['id']}/skip"
    assert api.call("POST", "dispatch", path, token, json=body).status_code == 204


def flagged(api: Api, token: str, **params: Any) -> list[dict[str, Any]]:
    return list(api.ok("GET", "dispatch", FLAGGED, token, params=params)["tasks"])


def flag_one(api: Api, ws: Workspace) -> str:
    """Both annotators skip the same task (max_skips is 2 in tests); any other task they meet
    on the way is submitted. Returns the flagged task's id."""
    a, b = ws.annotators
    first = lease(api, a)
    skip(api, a, first, comment="all black")
    while (task := lease(api, b))["id"] != first["id"]:
        assert api.submit(b, task, [BOX]).status_code == 200
    skip(api, b, task, comment="nothing to see")
    return str(first["id"])


def batch(api: Api, ws: Workspace) -> dict[str, Any]:
    return dict(api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token))


def test_the_client_sees_its_flagged_tasks_and_returns_one_to_another_vendor(api: Api) -> None:
    ws = workspace(api)
    task_id = flag_one(api, ws)
    [seen] = flagged(api, ws.client.token)
    assert seen["id"] == task_id
    assert seen["project_name"] == "test project"
    assert [(s["reason"], s["comment"]) for s in seen["skips"]] == [
        ("unreadable_image", "all black"),
        ("unreadable_image", "nothing to see"),
    ]
    assert api.http.get(seen["image"]["url"]).status_code == 200  # the picture to judge by
    params = {"action": "media.read", "limit": 1000}
    api.wait_for(
        lambda: any(
            e["actor"]["role"] == "client" and r["target"] == seen["item_id"]
            for e in api.ok("GET", "dispatch", "/v1/audit", ws.client.token, params=params)
            for r in e["details"]["reads"]
        )
    )
    assert seen["allowed_vendors"] == [ws.vendor_id]
    operator_view = flagged(api, api.operator, project_id=ws.project["id"])
    assert [(t["id"], t["skips"]) for t in operator_view] == [(seen["id"], seen["skips"])]

    # Nobody else sees or decides it.
    other = api.client()
    assert flagged(api, other.token) == []
    back = f"{FLAGGED}/{task_id}/return"
    assert api.call("POST", "dispatch", back, other.token, json={}).status_code == 404
    annotator = ws.annotators[0]
    assert api.call("GET", "dispatch", FLAGGED, annotator).status_code == 403
    assert api.call("POST", "dispatch", back, annotator, json={}).status_code == 403

    # A vendor the project does not list is refused; the project's own vendors are not.
    stranger = api.org("vendor", "stranger")
    refused = api.call("POST", "dispatch", back, ws.client.token, json={"vendor_id": stranger})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "vendor_not_in_project"
    returned = api.ok("POST", "dispatch", back, ws.client.token, json={})
    assert returned == {"id": task_id, "vendor_id": ws.vendor_id}
    again = api.call("POST", "dispatch", back, ws.client.token, json={})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_flagged"

    # Its skips are cleared: the people who skipped it may take it, and submit it.
    task = lease(api, ws.annotators[0])
    assert task["id"] == task_id
    assert api.submit(ws.annotators[0], task, [BOX]).status_code == 200
    assert flagged(api, ws.client.token) == []
    audit = api.ok(
        "GET", "dispatch", "/v1/audit", ws.client.token, params={"action": "task.returned"}
    )
    assert [e["target"] for e in audit] == [task_id]


def test_a_flagged_task_is_sent_to_a_vendor_of_the_operators_choice(api: Api) -> None:
    client = api.client()
    usual, spare = api.org("vendor", "usual"), api.org("vendor", "spare")
    vendors = [{"vendor_id": usual, "share": 0.9999}, {"vendor_id": spare, "share": 0.0001}]
    project = api.project(client, usual, vendors=vendors)
    batch_id = api.batch(client, project["id"])

    assert api.upload(client, batch_id, jpeg(4100)).status_code == 201
    annotators = [api.token(usual, "annotator", f"u-{i}") for i in range(2)]
    ws = Workspace(client, usual, annotators, "", project, batch_id)
    task_id = flag_one(api, ws)
    [seen] = flagged(api, client.token)
    assert seen["vendor_names"] == {usual: "usual", spare: "spare"}  # for the page's choice
    path = f"{FLAGGED}/{task_id}/return"
    sent = api.ok("POST", "dispatch", path, api.operator, json={"vendor_id": spare})
    assert sent == {"id": task_id, "vendor_id": spare}
    spare_annotator = api.token(spare, "annotator", "s-0")
    task = lease(api, spare_annotator)
    assert task["id"] == task_id
    stats = api.ok("GET", "dispatch", f"/v1/projects/{project['id']}/task-stats", client.token)
    assert stats["by_vendor"] == {spare: {"leased": 1}}
    entries = api.ok(
        "GET", "dispatch", "/v1/audit", client.token, params={"action": "task.sent_to_vendor"}
    )
    assert entries[0]["details"] == {"from_vendor": usual, "to_vendor": spare}


def waiting_on_a_flagged_task(api: Api) -> tuple[Workspace, str, dict[str, Any]]:
    """A sealed batch of two images (auto review): one flagged, the other accepted, so the
    batch waits for the flagged one only. Returns the workspace, its task and queue view."""
    ws = workspace(api, images=2, review={"mode": "auto"})
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    task_id = flag_one(api, ws)
    if batch(api, ws)["progress"]["accepted"] < 1:
        other = lease(api, ws.annotators[0])
        assert api.submit(ws.annotators[0], other, [BOX]).status_code == 200
    api.wait_for(lambda: batch(api, ws)["progress"]["accepted"] == 1)
    [seen] = flagged(api, ws.client.token)
    return ws, task_id, seen


def test_dropping_an_item_delivers_the_batch_without_it_and_lists_why(api: Api) -> None:
    ws, task_id, seen = waiting_on_a_flagged_task(api)

    drop = f"{FLAGGED}/{task_id}/drop"
    assert api.call("POST", "dispatch", drop, ws.client.token, json={}).status_code == 422
    result = api.ok(
        "POST", "dispatch", drop, ws.client.token, json={"reason": "the camera was covered"}
    )
    assert result == {"item_id": seen["item_id"], "batch_id": ws.batch_id, "tasks_ended": 1}
    assert (
        api.call("POST", "dispatch", drop, ws.client.token, json={"reason": "x"}).status_code == 409
    )

    done = api.wait_for(lambda: (b := batch(api, ws))["progress"]["delivered"] and b, timeout=30)
    assert done["progress"] | {"deliveries": 0} == {
        "received": 2,
        "in_labeling": 0,
        "in_review": 0,
        "accepted": 1,
        "dropped": 1,
        "delivered": True,
        "deliveries": 0,
    }
    [delivery] = api.ok(
        "GET", "export", "/v1/deliveries", ws.client.token, params={"project_id": ws.project["id"]}
    )
    delivery = api.ok("GET", "export", f"/v1/deliveries/{delivery['id']}", ws.client.token)
    package = zipfile.ZipFile(io.BytesIO(api.http.get(delivery["download_url"]).content))
    manifest = json.loads(package.read("manifest.json"))
    assert manifest["counts"]["images"] == 1
    [listed] = manifest["dropped"]
    assert listed["item_id"] == seen["item_id"]
    assert listed["reason"] == "the camera was covered"
    assert listed["dropped_by"] == "integration"
    coco = json.loads(package.read("coco/annotations.json"))
    assert seen["item_id"] not in {image.get("aviary_item_id") for image in coco["images"]}

    stats = api.ok(
        "GET", "dispatch", f"/v1/projects/{ws.project['id']}/task-stats", ws.client.token
    )
    assert stats["by_vendor"] == {ws.vendor_id: {"dropped": 1, "submitted": 1}}
    audit = api.ok(
        "GET", "dispatch", "/v1/audit", ws.client.token, params={"action": "item.dropped"}
    )
    assert audit[0]["target"] == seen["item_id"]
    assert audit[0]["details"]["reason"] == "the camera was covered"


def test_a_lease_on_another_copy_of_a_dropped_item_ends_at_once(api: Api) -> None:
    ws = workspace(api, overlap=2)
    holder = api.token(ws.vendor_id, "annotator", "ann-2")
    held = lease(api, holder)  # one copy of the item, kept while the other is flagged
    a, b = ws.annotators
    other = lease(api, a)
    assert other["id"] != held["id"]
    skip(api, a, other)
    again = lease(api, b)
    assert again["id"] == other["id"]
    skip(api, b, again)
    drop = f"{FLAGGED}/{other['id']}/drop"
    result = api.ok("POST", "dispatch", drop, api.operator, json={"reason": "duplicate scene"})
    assert result["tasks_ended"] == 2
    heartbeat = f"/v1/tasks/{held['id']}/heartbeat"
    body = {"lease_id": held["lease_id"]}
    assert api.call("POST", "dispatch", heartbeat, holder, json=body).status_code == 409
    submitted = api.submit(holder, held, [BOX])
    assert submitted.status_code == 409
    assert submitted.json()["error"]["code"] == "lease_lost"
    assert api.next_task(holder, wait_s=0.5).status_code == 204
    progress = api.wait_for(lambda: batch(api, ws)["progress"]["dropped"] == 1 and batch(api, ws))
    assert progress["progress"]["in_labeling"] == 0


def test_the_cli_lists_returns_and_drops_flagged_tasks(services: ServiceSet, api: Api) -> None:
    ws = workspace(api, images=2)
    first = flag_one(api, ws)
    token = ws.client.token
    code, listed = run(services, token, "flagged", "list", "--project", ws.project["id"])
    assert code == 0
    assert [(t["id"], len(t["skips"])) for t in listed] == [(first, 2)]
    stranger = api.org("vendor", "stranger")
    code, refused = run(services, token, "flagged", "return", first, "--vendor", stranger)
    assert code == 5 and "vendor" in refused["error"]
    code, returned = run(services, token, "flagged", "return", first)
    assert code == 0 and returned == {"id": first, "vendor_id": ws.vendor_id}

    second = flag_one(api, ws)
    code, dropped = run(services, token, "flagged", "drop", second, "--reason", "blurred")
    assert code == 0 and dropped["tasks_ended"] == 1
    code, listed = run(services, token, "flagged", "list")
    assert code == 0 and listed == []


async def test_a_drop_heard_again_or_an_acceptance_heard_after_it_changes_nothing(
    api: Api, services: ServiceSet
) -> None:
    """At-least-once: the same `item.dropped` redelivered (and once more under a new event id),
    then a late `item.accepted` of the dropped item (review decided before it heard)."""
    ws, task_id, seen = waiting_on_a_flagged_task(api)
    drop = f"{FLAGGED}/{task_id}/drop"
    api.ok("POST", "dispatch", drop, ws.client.token, json={"reason": "blurred"})
    api.wait_for(lambda: batch(api, ws)["progress"]["delivered"], timeout=30)

    dropped = ItemDropped(
        item_id=seen["item_id"],
        project_id=ws.project["id"],
        batch_id=ws.batch_id,
        org_id=ws.client.org_id,
        reason="blurred",
        dropped_by="integration",
    )
    late = ItemAccepted(
        item_id=seen["item_id"],
        project_id=ws.project["id"],
        batch_id=ws.batch_id,
        org_id=ws.client.org_id,
        task_id=task_id,
        submission_id="sub_late",
        annotator_id="ann-0",
        reviewer_id=None,
        ontology_version=1,
        image=ImageRef(
            bucket="b",
            object_key="k",
            width=seen["image"]["width"],
            height=seen["image"]["height"],
            format="JPEG",
            sha256="0" * 64,
            file_name="late.jpg",
        ),
        annotation=Annotation(),
    )
    broker = Broker(services.settings)
    await broker.connect()
    try:
        envelope = Envelope.wrap(dropped)
        for _ in range(3):
            await broker.publish(envelope)
        await broker.publish(Envelope.wrap(dropped))  # the same drop under a new event id
        await broker.publish(Envelope.wrap(late))
    finally:
        await broker.close()
    await asyncio.sleep(2)  # time for a wrongful second effect to show

    progress = batch(api, ws)["progress"]
    assert (progress["dropped"], progress["accepted"], progress["in_review"]) == (1, 1, 0)
    body = {"kind": "partial", "formats": ["coco"]}
    path = f"/v1/batches/{ws.batch_id}/deliveries"
    asked = api.ok("POST", "export", path, ws.client.token, json=body)
    ready = api.wait_for(
        lambda: (
            (d := api.ok("GET", "export", f"/v1/deliveries/{asked['id']}", ws.client.token))[
                "status"
            ]
            == "ready"
            and d
        )
    )
    package = zipfile.ZipFile(io.BytesIO(api.http.get(ready["download_url"]).content))
    manifest = json.loads(package.read("manifest.json"))
    assert manifest["counts"]["images"] == 1
    assert [d["item_id"] for d in manifest["dropped"]] == [seen["item_id"]]
