"""Ingest's ways in and guarantees against running services: URL import, presigned upload,
idempotency keys, pre-annotations, project versions, progress, previews, storage outage."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import io
import json
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import httpx
from PIL import Image

from aviary_devkit.processes import ServiceSet
from services.ingest.repositories.imports import new_import
from shared.events import Envelope, ImportRequested
from shared.messaging import Broker
from shared.settings import Settings
from shared.store.mongo import connect_mongo
from tests.support import (
    Api,
    Workspace,
    ingest_in_process,
    jpeg,
    operator_headers,
    workspace,
)

BOX = {"class_id": 1, "bbox": [10, 10, 50, 40]}


class ImageServer:
    """A local HTTP server with good, bad, slow, huge and redirecting answers."""

    def __init__(self) -> None:
        good = jpeg(4242)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path
                if path.split("?")[0] == "/good.jpg":
                    self._send(200, good)
                elif path == "/redirect":
                    self._redirect("/good.jpg")
                elif path == "/to-metadata":
                    self._redirect("http://169.254.169.254/latest/meta-data/")
                elif path == "/text":
                    self._send(200, b"<html>not an image</html>")
                elif path == "/slow":
                    time.sleep(6)
                    self._send(200, good)
                elif path == "/huge":
                    self.send_response(200)
                    self.end_headers()
                    block = b"\xff" * 65536
                    try:
                        for _ in range(server.huge_blocks):
                            self.wfile.write(block)
                    except OSError:
                        pass
                else:
                    self._send(404, b"missing")

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                # The fetcher may give up on a slow answer: a broken pipe is expected.
                with contextlib.suppress(OSError):
                    self.wfile.write(body)

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("location", location)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.huge_blocks = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


def import_urls(api: Api, ws: Workspace, urls: Iterable[str]) -> dict[str, Any]:
    """An import of `urls` into the workspace's batch, as created (202)."""
    created: dict[str, Any] = api.ok(
        "POST",
        "ingest",
        f"/v1/batches/{ws.batch_id}/imports",
        ws.client.token,
        json={"urls": [{"url": u} for u in urls]},
    )
    return created


def finished_import(api: Api, token: str, import_id: str, timeout: float) -> dict[str, Any]:
    """The import with its URLs once none is pending."""
    path = f"/v1/imports/{import_id}"
    done: dict[str, Any] = api.wait_for(
        lambda: (d := api.ok("GET", "ingest", path, token))["pending"] == 0 and d,
        timeout=timeout,
    )
    return done


def test_url_import_fetches_safely_with_a_status_per_url(api: Api) -> None:
    server = ImageServer()
    server.huge_blocks = api.services.settings.max_upload_bytes // 65536 + 4
    ws = workspace(api, images=0)
    port = server.server.server_address[1]
    urls = {
        server.url("/good.jpg"): ("done", None),
        server.url("/redirect"): ("done", None),
        server.url("/missing"): ("failed", "http_status"),
        server.url("/text"): ("failed", "not_an_image"),
        server.url("/huge"): ("failed", "too_large"),
        server.url("/slow"): ("failed", "timeout"),
        server.url("/to-metadata"): ("failed", "unsafe_url"),  # a redirect, caught on fetch
    }
    # Inward addresses written out are refused with the request, naming each; nothing stored.
    inward = [
        "http://169.254.169.254/latest/meta-data/iam",
        f"http://localhost:{port}/good.jpg",
        "http://10.0.0.1/a.jpg",
        "http://2130706434/a.jpg",  # 127.0.0.2, not allowed
        "file:///etc/passwd",
    ]
    refused = api.call(
        "POST",
        "ingest",
        f"/v1/batches/{ws.batch_id}/imports",
        ws.client.token,
        json={"urls": [{"url": u} for u in [*urls, *inward]]},
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unsafe_url"
    assert [d["index"] for d in refused.json()["error"]["details"]] == [
        len(urls) + i for i in range(len(inward))
    ]
    created = import_urls(api, ws, urls)
    assert created["total"] == len(urls) and created["pending"] == len(urls)
    seal = api.call("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    assert seal.status_code == 409 and seal.json()["error"]["code"] == "imports_pending"

    done = finished_import(api, ws.client.token, created["id"], timeout=60)
    outcome = {u["url"]: (u["status"], u["error"]) for u in done["urls"]}
    assert outcome == urls
    by_url = {u["url"]: u for u in done["urls"]}
    good, redirected = by_url[server.url("/good.jpg")], by_url[server.url("/redirect")]
    assert good["item_id"] == redirected["item_id"]  # same bytes: one item
    assert by_url[server.url("/slow")]["attempts"] > 1  # timeouts are retried
    assert by_url[server.url("/missing")]["attempts"] == 1  # a 404 is not
    batch = api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token)
    assert batch["item_count"] == 1
    path = f"/v1/imports/{created['id']}"
    assert api.call("GET", "ingest", path, api.client().token).status_code == 404
    server.server.shutdown()


def test_an_import_of_many_urls_fetches_each_once_across_its_events(api: Api) -> None:
    """Forty URLs go out as several `import.urls_requested` events (a few URLs each); every
    URL is fetched once, whichever event and group it came in."""
    server = ImageServer()
    ws = workspace(api, images=0)
    urls = [server.url(f"/good.jpg?n={i}") for i in range(38)] + [
        server.url("/missing"),
        server.url("/text"),
    ]
    created = import_urls(api, ws, urls)
    done = finished_import(api, ws.client.token, created["id"], timeout=60)
    assert (done["done"], done["failed"]) == (38, 2)
    assert [u["url"] for u in done["urls"]] == urls
    assert {u["attempts"] for u in done["urls"]} == {1}
    assert len({u["item_id"] for u in done["urls"][:38]}) == 1  # the same bytes: one item
    assert [u["error"] for u in done["urls"][38:]] == ["http_status", "not_an_image"]
    server.server.shutdown()


def test_an_import_event_of_the_earlier_shape_is_still_fetched(
    api: Api, services: ServiceSet
) -> None:
    """`import.requested` (one URL an event, what ingest sent before) queued across an
    upgrade: its URL is fetched and recorded like any other."""
    server = ImageServer()
    ws = workspace(api, images=0)
    import_id = asyncio.run(
        queue_a_url_the_earlier_way(services.settings, ws.batch_id, server.url("/good.jpg"))
    )
    done = finished_import(api, ws.client.token, import_id, timeout=30)
    (url,) = done["urls"]
    assert (url["status"], url["attempts"]) == ("done", 1)
    item = api.ok("GET", "ingest", f"/v1/items/{url['item_id']}", ws.client.token)
    assert item["batch_id"] == ws.batch_id
    server.server.shutdown()


async def queue_a_url_the_earlier_way(settings: Settings, batch_id: str, url: str) -> str:
    """An import's records written as the ledger writes them, and its one URL requested with
    the earlier event, published on the bus."""
    client = connect_mongo(settings)
    broker = Broker(settings)
    try:
        db = client[settings.database_name("ingest")]
        batch = await db["batches"].find_one({"_id": batch_id})
        assert batch is not None
        doc, (record,) = new_import(batch, [{"url": url}])
        await db["imports"].insert_one(doc)
        await db["import_urls"].insert_one(record)
        await broker.connect()
        event = ImportRequested(
            import_id=doc["_id"],
            url_id=record["_id"],
            batch_id=batch_id,
            project_id=batch["project_id"],
            org_id=batch["org_id"],
        )
        await broker.publish(Envelope.wrap(event, org_ids=(batch["org_id"],)))
        return str(doc["_id"])
    finally:
        await broker.close()
        await client.close()


def test_presigned_upload_then_confirm(api: Api) -> None:
    ws = workspace(api, images=0)
    ticket = api.ok(
        "POST",
        "ingest",
        f"/v1/batches/{ws.batch_id}/uploads",
        ws.client.token,
        json={"file_name": "big.jpg"},
    )
    confirm = ticket["confirm_path"]
    early = api.call("POST", "ingest", confirm, ws.client.token)
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_uploaded"
    data = jpeg(515)
    assert httpx.put(ticket["put_url"], content=data).status_code == 200
    item = api.ok("POST", "ingest", confirm, ws.client.token)
    again = api.ok("POST", "ingest", confirm, ws.client.token)
    assert item["id"] == again["id"] and item["file_name"] == "big.jpg"
    assert api.call("POST", "ingest", confirm, api.client().token).status_code == 404

    bad = api.ok(
        "POST",
        "ingest",
        f"/v1/batches/{ws.batch_id}/uploads",
        ws.client.token,
        json={"file_name": "bad.jpg"},
    )
    httpx.put(bad["put_url"], content=b"not an image at all")
    refused = api.call("POST", "ingest", bad["confirm_path"], ws.client.token)
    assert refused.status_code == 415 and refused.json()["error"]["code"] == "not_an_image"
    batch = api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token)
    assert batch["item_count"] == 1


def test_idempotency_key_makes_a_retried_write_happen_once(api: Api) -> None:
    client = api.client()
    body = {
        "name": "once",
        "ontology": {"classes": [{"id": 1, "name": "car"}]},
        "vendors": [{"vendor_id": api.org("vendor"), "share": 1.0}],
    }
    headers = {"Idempotency-Key": "create-project-42"}
    first = api.call("POST", "ingest", "/v1/projects", client.token, json=body, headers=headers)
    second = api.call("POST", "ingest", "/v1/projects", client.token, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["idempotent-replay"] == "true"
    assert len(api.ok("GET", "ingest", "/v1/projects", client.token)) == 1
    changed = api.call(
        "POST",
        "ingest",
        "/v1/projects",
        client.token,
        json={**body, "name": "other"},
        headers=headers,
    )
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"


def test_pre_annotations_are_validated_and_reach_the_annotator(api: Api) -> None:
    ws = workspace(api, images=0)
    pre = {"shapes": [{"class_id": 2, "bbox": [5, 5, 20, 30]}]}
    bad = {
        "shapes": [
            {"class_id": 99, "bbox": [5, 5, 20, 30]},
            {"class_id": 1, "bbox": [600, 450, 100, 100]},
        ]
    }
    refused = api.call(
        "POST",
        "ingest",
        f"/v1/batches/{ws.batch_id}/items",
        ws.client.token,
        content=jpeg(31),
        headers={"content-type": "image/jpeg", "x-pre-annotation": json.dumps(bad)},
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_pre_annotation"
    assert [d["code"] for d in refused.json()["error"]["details"]] == [
        "unknown_class",
        "outside_image",
    ]
    files = [("files", ("a.jpg", jpeg(32), "image/jpeg"))]
    report = api.ok(
        "POST",
        "ingest",
        f"/v1/batches/{ws.batch_id}/items",
        ws.client.token,
        files=files,
        data={"pre_annotations": json.dumps({"a.jpg": pre})},
    )
    assert report["accepted"] == 1 and report["results"][0]["item"]["has_pre_annotation"]
    task = api.next_task(ws.annotators[0]).json()
    assert task["pre_annotation"]["shapes"][0]["bbox"] == [5, 5, 20, 30]


def test_project_update_publishes_a_new_version_used_by_new_tasks(api: Api) -> None:
    ws = workspace(api, images=1)
    old_task = api.next_task(ws.annotators[0]).json()
    assert old_task["ontology_version"] == 1
    body = {
        "name": "v2",
        "ontology": {
            "classes": [
                {"id": 1, "name": "car"},
                {"id": 2, "name": "person"},
                {"id": 3, "name": "bicycle"},
            ]
        },
        "vendors": [{"vendor_id": ws.vendor_id, "share": 1.0}],
    }
    updated = api.ok(
        "PUT", "ingest", f"/v1/projects/{ws.project['id']}", ws.client.token, json=body
    )
    assert updated["version"] == 2
    assert updated["vendor_names"] == {ws.vendor_id: "org"}  # names for pages, not ids alone
    not_a_vendor = {**body, "vendors": [{"vendor_id": ws.client.org_id, "share": 1.0}]}
    refused = api.call(
        "PUT", "ingest", f"/v1/projects/{ws.project['id']}", ws.client.token, json=not_a_vendor
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_vendor"
    assert (
        api.call(
            "PUT", "ingest", f"/v1/projects/{ws.project['id']}", api.client().token, json=body
        ).status_code
        == 404
    )
    # Each version kept, newest first, with what changed (the refused one made none).
    path = f"/v1/projects/{ws.project['id']}/versions"
    versions = api.ok("GET", "ingest", path, ws.client.token)
    assert [(v["version"], v["saved_by"], v["name"]) for v in versions] == [
        (2, "integration", "v2"),
        (1, "integration", "test project"),
    ]
    assert versions[0]["changes"] == [
        "renamed 'test project' → 'v2'",
        "class 3 'bicycle' (bbox) added",
    ]
    assert versions[1]["changes"] == ["created"]
    assert api.ok("GET", "ingest", path, api.operator) == versions
    assert api.call("GET", "ingest", path, api.client().token).status_code == 404

    def next_new() -> dict[str, Any] | None:
        assert api.upload(ws.client, ws.batch_id, jpeg(77)).status_code in (200, 201)
        response = api.next_task(ws.annotators[1], wait_s=2)
        return dict(response.json()) if response.status_code == 200 else None

    new_task = api.wait_for(next_new)
    assert new_task["ontology_version"] == 2
    assert [c["name"] for c in new_task["classes"]][-1] == "bicycle"
    # The task made before keeps the version it was made with; its submission is checked by it.
    assert (
        api.submit(ws.annotators[0], old_task, [{"class_id": 3, "bbox": [1, 1, 5, 5]}]).json()[
            "error"
        ]["code"]
        == "invalid_annotation"
    )


def test_batch_progress_follows_items_through_the_stages(api: Api) -> None:
    ws = workspace(api, images=2)
    task = api.next_task(ws.annotators[0]).json()
    assert api.submit(ws.annotators[0], task, [BOX]).status_code == 200
    progress = api.wait_for(
        lambda: (
            (
                p := api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token)[
                    "progress"
                ]
            )["in_review"]
            == 1
            and p
        )
    )
    assert progress == {
        "received": 2,
        "in_labeling": 1,
        "in_review": 1,
        "accepted": 0,
        "dropped": 0,
        "delivered": False,
        "deliveries": 0,
    }


def test_a_batch_burnup_counts_done_items_and_forecasts_the_finish(api: Api) -> None:
    deadline = "2031-01-01T00:00:00Z"
    ws = workspace(api, images=3, review={"mode": "auto"}, deadline=deadline)
    path = f"/v1/batches/{ws.batch_id}/burnup"
    empty = api.ok("GET", "ingest", path, ws.client.token)
    assert (empty["total"], empty["done"], empty["points"], empty["finish_at"]) == (3, 0, [], None)
    assert empty["sealed"] is False and empty["deadline"].startswith("2031-01-01")
    for annotator in ws.annotators:
        task = api.next_task(annotator).json()
        assert api.submit(annotator, task, [BOX]).status_code == 200

    def burnup() -> dict[str, Any]:
        return dict(api.ok("GET", "ingest", path, ws.client.token))

    two = api.wait_for(lambda: (b := burnup())["done"] == 2 and b)
    assert [p["done"] for p in two["points"]] == [1, 2]
    # Two items within a minute: 120 an hour at least, the third due within a minute.
    assert two["per_hour"] >= 120
    finish = datetime.fromisoformat(two["finish_at"])
    assert finish - datetime.fromisoformat(two["points"][-1]["at"]) < timedelta(seconds=60)
    assert api.call("GET", "ingest", path, api.client().token).status_code == 404
    assert api.ok("GET", "ingest", path, api.operator)["done"] == 2


def test_items_have_small_previews(api: Api) -> None:
    ws = workspace(api, images=2)
    page = api.ok(
        "GET", "ingest", f"/v1/batches/{ws.batch_id}/items", ws.client.token, params={"limit": 1}
    )
    assert len(page["items"]) == 1 and page["next_after"]
    fetched = api.call(
        "GET", "ingest", page["items"][0]["preview_url"], ws.client.token, follow_redirects=True
    )
    preview = Image.open(io.BytesIO(fetched.content))
    assert preview.format == "WEBP" and preview.size == (320, 240)
    rest = api.ok(
        "GET",
        "ingest",
        f"/v1/batches/{ws.batch_id}/items",
        ws.client.token,
        params={"after": page["next_after"]},
    )
    assert len(rest["items"]) == 1 and rest["next_after"] is None
    assert (
        api.call(
            "GET", "ingest", f"/v1/items/{rest['items'][0]['id']}", api.client().token
        ).status_code
        == 404
    )


async def test_storage_outage_answers_503_and_stores_nothing(settings: Settings) -> None:
    """The real ingest app, real Mongo and broker, object storage unreachable mid-run."""
    from shared.store.storage import ObjectStorage

    async with ingest_in_process(settings) as http:
        runtime = http.runtime  # type: ignore[attr-defined]
        op = operator_headers(settings)
        org = (
            await http.post("/v1/orgs", json={"name": "c", "kind": "client"}, headers=op)
        ).json()["id"]
        vendor = (
            await http.post("/v1/orgs", json={"name": "v", "kind": "vendor"}, headers=op)
        ).json()["id"]
        token = (
            await http.post(
                "/v1/tokens", json={"org_id": org, "role": "client", "subject": "c"}, headers=op
            )
        ).json()
        auth = {"Authorization": f"Bearer {token['token']}"}
        project = (
            await http.post(
                "/v1/projects",
                headers=auth,
                json={
                    "name": "p",
                    "ontology": {"classes": [{"id": 1, "name": "car"}]},
                    "vendors": [{"vendor_id": vendor, "share": 1.0}],
                },
            )
        ).json()
        batch = (
            await http.post(f"/v1/projects/{project['id']}/batches", headers=auth, json={})
        ).json()
        runtime.storage = ObjectStorage(settings.model_copy(update={"s3_endpoint": "127.0.0.1:9"}))
        response = await http.post(
            f"/v1/batches/{batch['id']}/items",
            headers={**auth, "content-type": "image/jpeg"},
            content=jpeg(9),
        )
        assert response.status_code == 503
        assert response.headers["retry-after"]
        assert response.json()["error"]["code"] == "unavailable"
        after = (await http.get(f"/v1/batches/{batch['id']}", headers=auth)).json()
        assert after["item_count"] == 0
