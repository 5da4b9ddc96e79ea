"""Deletion against running services: a client deletes a project (or one item) and every
service removes its part, media and derived objects included; the certificate says what
went, and a scan of every database and bucket finds nothing that names the deleted ids or
holds the deleted content."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

from aviary_devkit.media.video import render
from aviary_devkit.privacy_scan import NOT_SEARCHED, records, scan, tokens
from aviary_devkit.processes import ServiceSet
from services.ingest.deletions import SERVICES, certificate_digest
from shared.settings import Settings
from shared.store.mongo import connect_mongo, utcnow
from shared.store.storage import ObjectStorage
from tests.integration.test_export_api import download, jsonl_items, label_all, ready_delivery
from tests.integration.test_video_flow import BOTTOM, TOP, upload_video, video_workspace
from tests.support import Api, Workspace, jpeg, workspace

BOX = {"class_id": 1, "bbox": [10, 10, 50, 40]}
EVERYTHING = ["records", "media", "packages"]


def items_of(api: Api, ws: Workspace, batch_id: str | None = None) -> list[dict[str, Any]]:
    path = f"/v1/batches/{batch_id or ws.batch_id}/items"
    return list(api.ok("GET", "ingest", path, ws.client.token)["items"])


def finished(api: Api, token: str, deletion: dict[str, Any]) -> dict[str, Any]:
    path = f"/v1/deletions/{deletion['id']}"

    def poll() -> dict[str, Any] | None:
        got = dict(api.ok("GET", "ingest", path, token))
        return got if got["status"] == "complete" else None

    return dict(api.wait_for(poll, timeout=30))


async def derived_ids(settings: Settings, ids: set[str]) -> set[str]:
    """The ids of every record that names a deleted id (tasks, submissions, deliveries,
    leases...): after the deletion they must be gone too. Composite ids are left out (their
    parts name people and vendors that stay), and so are tokens: a revoked token's id stays
    in every service until it expires, so that it stays refused (docs/privacy.md)."""
    found: set[str] = set()
    async for _, _, doc in records(settings, NOT_SEARCHED | {"tokens"}):
        if tokens(repr(doc)) & ids and tokens(str(doc["_id"])) == {str(doc["_id"])}:
            found.add(str(doc["_id"]))
    return found


# Pictures no other test pushes (the scans look for their content in the whole namespace,
# which every integration and browser test of a run shares): scenes from this seed on.
SEEDS = 9_100_000


def fresh_workspace(api: Api, seeds: range, **fields: Any) -> Workspace:
    """A workspace whose pictures are its own (`seeds` past `SEEDS`)."""
    ws = workspace(api, images=0, **fields)
    for seed in seeds:
        assert api.upload(ws.client, ws.batch_id, jpeg(SEEDS + seed)).status_code == 201
    return ws


def test_a_deleted_project_is_gone_from_every_service_with_a_certificate(
    api: Api, services: ServiceSet
) -> None:
    ws = fresh_workspace(
        api,
        range(7000, 7003),
        review={"mode": "auto"},
        delivery_formats=["coco", "jsonl"],
        include_images=True,
    )
    label_all(api, ws, 3)
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    ready_delivery(api, ws)
    # The same picture in another project of the client: it must stay.
    other = api.project(ws.client, ws.vendor_id)
    other_batch = api.batch(ws.client, other["id"])
    assert api.upload(ws.client, other_batch, jpeg(SEEDS + 7000)).status_code == 201
    items = items_of(api, ws)
    [kept] = items_of(api, ws, other_batch)
    ids = {ws.project["id"], ws.batch_id, *(i["id"] for i in items)}
    ids |= asyncio.run(derived_ids(services.settings, ids))
    gone = {i["sha256"] for i in items} - {kept["sha256"]}

    response = api.call("DELETE", "ingest", f"/v1/projects/{ws.project['id']}", ws.client.token)
    assert response.status_code == 202, response.text
    deletion = response.json()
    assert deletion["status"] == "pending" and deletion["scope"] == "project"
    # Gone at once from what the client reads, and asking again gives the same deletion.
    path = f"/v1/projects/{ws.project['id']}"
    assert api.call("GET", "ingest", path, ws.client.token).status_code == 404
    again = api.call("DELETE", "ingest", path, ws.client.token)
    assert again.status_code == 202 and again.json()["id"] == deletion["id"]

    done = finished(api, ws.client.token, deletion)
    cert = done["certificate"]
    assert sorted(done["services_done"]) == sorted(SERVICES)
    assert cert["requested_by"] == "integration" and cert["target_id"] == ws.project["id"]
    assert sorted(cert["content_sha256"]) == sorted(i["sha256"] for i in items)
    assert cert["services"]["ingest"]["records"]["items"] == 3
    assert cert["services"]["dispatch"]["records"]["tasks"] >= 3
    assert cert["services"]["review"]["records"]["submissions"] == 3
    assert cert["services"]["export"]["objects"] == {services.settings.deliveries_bucket: 1}
    assert cert["services"]["ingest"]["objects"] == {services.settings.images_bucket: 2}
    assert cert["digest"] == certificate_digest(cert)

    findings = asyncio.run(scan(services.settings, ids, gone))
    assert findings == [], "\n".join(map(str, findings))
    # The picture another project holds is still there, and so is that project.
    storage = ObjectStorage(services.settings)
    keys = asyncio.run(storage.list_keys(services.settings.images_bucket, ""))
    assert any(kept["sha256"] in k for k in keys)
    assert api.ok("GET", "ingest", f"/v1/items/{kept['id']}", ws.client.token)["id"] == kept["id"]
    # The audit log keeps the certificate's digest; the annotators see only the other project.
    audit = api.ok(
        "GET", "ingest", "/v1/audit", ws.client.token, params={"action": "deletion.completed"}
    )
    assert any(e["details"]["digest"] == cert["digest"] for e in audit)
    offered = api.next_task(ws.annotators[0], wait_s=0.5)
    assert offered.status_code == 200 and offered.json()["project_id"] == other["id"]


def test_an_item_deleted_under_a_lease_ends_it_and_its_batch_completes_without_it(
    api: Api, services: ServiceSet
) -> None:
    ws = fresh_workspace(
        api, range(7100, 7102), review={"mode": "auto"}, delivery_formats=["jsonl"]
    )
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    held = api.next_task(ws.annotators[0]).json()
    [item] = [i for i in items_of(api, ws) if i["id"] == held["item_id"]]
    ids = asyncio.run(derived_ids(services.settings, {item["id"]})) | {item["id"]}

    deletion = api.call("DELETE", "ingest", f"/v1/items/{item['id']}", ws.client.token).json()
    done = finished(api, ws.client.token, deletion)
    assert done["certificate"]["content_sha256"] == [item["sha256"]]
    # The lease ended with the task: neither a heartbeat nor a submit is taken.
    body = {"lease_id": held["lease_id"]}
    beat = api.call(
        "POST", "dispatch", f"/v1/tasks/{held['id']}/heartbeat", ws.annotators[0], json=body
    )
    assert beat.status_code in (404, 409), beat.text
    assert api.submit(ws.annotators[0], held, [BOX]).status_code in (404, 409)
    # The other item is labeled, and the batch's delivery completes without the deleted one.
    other = api.next_task(ws.annotators[1]).json()
    assert other["item_id"] != item["id"]
    assert api.submit(ws.annotators[1], other, [BOX]).status_code == 200
    delivery = ready_delivery(api, ws)
    assert jsonl_items(download(api, delivery)) == [other["item_id"]]
    batch = api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token)
    assert batch["item_count"] == 1 and batch["progress"]["accepted"] == 1
    assert batch["progress"]["in_labeling"] == 0 and batch["progress"]["in_review"] == 0
    assert api.call("GET", "ingest", f"/v1/items/{item['id']}", ws.client.token).status_code == 404
    findings = asyncio.run(scan(services.settings, ids, {item["sha256"]}))
    assert findings == [], "\n".join(map(str, findings))


def test_a_deletion_refuses_what_the_caller_may_not_delete(api: Api) -> None:
    ws = workspace(api, images=1)
    stranger = api.client()
    project = f"/v1/projects/{ws.project['id']}"
    refused = api.call("DELETE", "ingest", project, stranger.token)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    assert api.call("DELETE", "ingest", project, ws.annotators[0]).status_code == 403
    assert api.call("DELETE", "ingest", "/v1/items/itm_nope", ws.client.token).status_code == 404
    vendor = api.call("DELETE", "ingest", f"/v1/orgs/{ws.vendor_id}", api.operator)
    assert vendor.status_code == 422 and vendor.json()["error"]["code"] == "not_a_client"
    assert (
        api.call("DELETE", "ingest", f"/v1/orgs/{ws.client.org_id}", ws.client.token).status_code
        == 403
    )
    # Nothing was deleted: the project is there, and nobody else sees a deletion.
    assert api.ok("GET", "ingest", project, ws.client.token)["id"] == ws.project["id"]
    assert api.ok("GET", "ingest", "/v1/deletions", stranger.token) == []


def test_the_operator_deletes_a_client_organisation_and_its_tokens_stop_working(
    api: Api, services: ServiceSet
) -> None:
    ws = fresh_workspace(api, range(7200, 7202), review={"mode": "auto"})
    label_all(api, ws, 2)
    items = items_of(api, ws)
    ids = {ws.client.org_id, ws.project["id"], ws.batch_id, *(i["id"] for i in items)}
    ids |= asyncio.run(derived_ids(services.settings, ids))
    response = api.call("DELETE", "ingest", f"/v1/orgs/{ws.client.org_id}", api.operator)
    assert response.status_code == 202, response.text
    done = finished(api, api.operator, response.json())
    assert done["certificate"]["services"]["ingest"]["records"]["orgs"] == 1
    # The client's token is refused everywhere once the services learn of its revocation.
    api.wait_for(
        lambda: api.call("GET", "ingest", "/v1/projects", ws.client.token).status_code == 401
    )
    findings = asyncio.run(scan(services.settings, ids, {i["sha256"] for i in items}))
    assert findings == [], "\n".join(map(str, findings))


def test_a_batch_past_its_projects_retention_is_deleted_with_a_certificate(
    api: Api, services: ServiceSet
) -> None:
    ws = fresh_workspace(
        api,
        range(7300, 7302),
        review={"mode": "auto"},
        privacy={"retention": {"days_after_delivery": 30}},
    )
    label_all(api, ws, 2)
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    ready_delivery(api, ws)
    # Delivered and within its 30 days: kept.
    batch = f"/v1/batches/{ws.batch_id}"
    api.wait_for(lambda: api.ok("GET", "ingest", batch, ws.client.token)["progress"]["delivered"])
    time.sleep(1.5)  # the sweep runs every 0.5 s here
    assert api.call("GET", "ingest", batch, ws.client.token).status_code == 200
    # 31 days later (the delivery's date moved back, as the clock would have moved on).
    asyncio.run(deliver_days_ago(services.settings, ws.batch_id, 31))

    def swept() -> dict[str, Any] | None:
        listed = api.ok("GET", "ingest", "/v1/deletions", ws.client.token)
        return next((d for d in listed if d["target_id"] == ws.batch_id), None)

    deletion = api.wait_for(swept)
    assert deletion["scope"] == "batch" and deletion["requested_by"] == "retention"
    done = finished(api, ws.client.token, deletion)
    assert done["certificate"]["services"]["ingest"]["records"]["items"] == 2
    assert api.call("GET", "ingest", batch, ws.client.token).status_code == 404


def test_media_go_before_the_annotations_and_the_whole_batch_after(
    api: Api, services: ServiceSet
) -> None:
    ws = fresh_workspace(
        api,
        range(7310, 7312),
        review={"mode": "auto"},
        include_images=True,
        delivery_formats=["jsonl"],
        privacy={"retention": {"days_after_delivery": 30, "media_days_after_delivery": 10}},
    )
    label_all(api, ws, 2)
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    first = ready_delivery(api, ws)
    assert len([n for n in download(api, first).namelist() if n.startswith("images/")]) == 2
    batch = f"/v1/batches/{ws.batch_id}"
    api.wait_for(lambda: api.ok("GET", "ingest", batch, ws.client.token)["progress"]["delivered"])
    items = items_of(api, ws)
    storage = ObjectStorage(services.settings)
    bucket = services.settings.images_bucket

    def stored_media() -> list[str]:
        keys = asyncio.run(storage.list_keys(bucket, ""))
        return [k for k in keys if any(i["sha256"] in k for i in items)]

    assert stored_media()
    asyncio.run(deliver_days_ago(services.settings, ws.batch_id, 11))

    def swept(parts: list[str]) -> dict[str, Any] | None:
        listed = api.ok("GET", "ingest", "/v1/deletions", ws.client.token)
        found = [d for d in listed if d["target_id"] == ws.batch_id and d["parts"] == parts]
        return found[0] if found else None

    media = finished(api, ws.client.token, api.wait_for(lambda: swept(["media", "packages"])))
    cert = media["certificate"]
    assert cert["parts"] == ["media", "packages"] and cert["records_removed"] == 0
    assert cert["records_marked"] == 3 and cert["objects_removed"] >= 3
    assert cert["digest"] == certificate_digest(cert)
    assert cert["services"]["ingest"]["records"] == {"items (media removed)": 2}
    assert cert["services"]["export"]["records"] == {"deliveries (packages removed)": 1}
    assert sorted(cert["content_sha256"]) == sorted(i["sha256"] for i in items)
    assert stored_media() == []
    # The annotations stay: the batch, its items (marked), a new delivery without pictures.
    assert api.call("GET", "ingest", batch, ws.client.token).status_code == 200
    assert all(i["media_removed_at"] for i in items_of(api, ws))
    preview = api.call("GET", "ingest", f"/v1/items/{items[0]['id']}/preview", ws.client.token)
    assert (preview.status_code, preview.json()["error"]["code"]) == (410, "media_removed")
    gone = api.call("GET", "export", f"/v1/deliveries/{first['id']}/download", ws.client.token)
    assert (gone.status_code, gone.json()["error"]["code"]) == (410, "package_removed")
    path = f"/v1/batches/{ws.batch_id}/deliveries"
    again = api.ok("POST", "export", path, ws.client.token, json={"kind": "partial"})
    package = download(api, ready_delivery(api, ws, again["id"]))
    assert not [n for n in package.namelist() if n.startswith("images/")]
    assert sorted(jsonl_items(package)) == sorted(i["id"] for i in items)
    manifest = json.loads(package.read("manifest.json"))
    assert manifest["media_removed"] == sorted(i["id"] for i in items)
    # The media's deletion is not asked for again; the whole batch's comes at 30 days.
    time.sleep(1.5)  # the sweep runs every 0.5 s here
    listed = api.ok("GET", "ingest", "/v1/deletions", ws.client.token)
    assert [d["parts"] for d in listed if d["target_id"] == ws.batch_id] == [["media", "packages"]]
    asyncio.run(deliver_days_ago(services.settings, ws.batch_id, 31))
    whole = finished(api, ws.client.token, api.wait_for(lambda: swept(EVERYTHING)))
    assert "parts" not in whole["certificate"] and "records_marked" not in whole["certificate"]
    assert api.call("GET", "ingest", batch, ws.client.token).status_code == 404


async def deliver_days_ago(settings: Settings, batch_id: str, days: int) -> None:
    client = connect_mongo(settings)
    try:
        when = utcnow() - timedelta(days=days)
        db = client[settings.database_name("ingest")]
        await db["batches"].update_one({"_id": batch_id}, {"$set": {"delivered_at": when}})
    finally:
        await client.close()


def test_a_deleted_video_takes_its_frames_sheets_and_manifest_with_it(
    api: Api, services: ServiceSet
) -> None:
    ws = video_workspace(api)
    video = render("mp4", frames=37, boxes=(TOP, BOTTOM))  # a length no other test pushes
    uploaded = upload_video(api, ws.client, ws.batch_id, video, "deleted.mp4")
    assert uploaded.status_code == 201, uploaded.text
    item = uploaded.json()
    ids = {item["id"], ws.batch_id} | asyncio.run(derived_ids(services.settings, {item["id"]}))
    storage = ObjectStorage(services.settings)
    bucket = services.settings.images_bucket
    before = [k for k in asyncio.run(storage.list_keys(bucket, "")) if item["sha256"] in k]
    assert len(before) > 3  # the original, the manifest, frames and preview sheets
    deletion = api.ok("DELETE", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token)
    cert = finished(api, ws.client.token, deletion)["certificate"]
    assert cert["services"]["ingest"]["records"]["items"] == 1
    assert cert["services"]["ingest"]["objects"][bucket] >= len(before)
    findings = asyncio.run(scan(services.settings, ids, {item["sha256"]}))
    assert findings == [], "\n".join(map(str, findings))
