"""Deliveries against running services: formats, incremental packages, signed webhooks."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

from aviary.contracts.webhooks import SIGNATURE_HEADER, verify_signature
from tests.support import Api, Receiver, Workspace, jpeg, workspace

SECRET = "whsec-0123456789abcdef"
BOX = {"class_id": 1, "bbox": [10, 10, 50, 40]}


def label_all(api: Api, ws: Workspace, count: int) -> None:
    """Annotators submit `count` tasks; the project auto-accepts them."""
    for _ in range(count):
        task = api.next_task(ws.annotators[0]).json()
        assert api.submit(ws.annotators[0], task, [BOX]).status_code == 200


def ready_delivery(api: Api, ws: Workspace, delivery_id: str | None = None) -> dict[str, Any]:
    def poll() -> dict[str, Any] | None:
        listed = api.ok(
            "GET",
            "export",
            "/v1/deliveries",
            ws.client.token,
            params={"project_id": ws.project["id"]},
        )
        for d in listed:
            if d["status"] == "ready" and (delivery_id is None or d["id"] == delivery_id):
                return dict(api.ok("GET", "export", f"/v1/deliveries/{d['id']}", ws.client.token))
        return None

    return dict(api.wait_for(poll, timeout=30))


def download(api: Api, delivery: dict[str, Any]) -> zipfile.ZipFile:
    data = api.http.get(delivery["download_url"]).content
    assert hashlib.sha256(data).hexdigest() == delivery["sha256"]
    return zipfile.ZipFile(io.BytesIO(data))


def test_webhook_is_retried_until_accepted_and_verifies_on_the_receiver(api: Api) -> None:
    receiver = Receiver(statuses=[500, 503])
    try:
        ws = workspace(
            api, images=2, review={"mode": "auto"}, webhook_url=receiver.url, webhook_secret=SECRET
        )
        assert ws.project["webhook_secret_set"] is True
        assert "webhook_secret" not in ws.project
        api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
        label_all(api, ws, 2)
        delivery = ready_delivery(api, ws)
        api.wait_for(lambda: len(receiver.received) >= 3)
        last = receiver.received[-1]
        # The receiver's side: verify the signature over the raw body, then trust the JSON.
        assert verify_signature(SECRET, last.headers[SIGNATURE_HEADER], last.body)
        assert not verify_signature("wrong-secret-0000", last.headers[SIGNATURE_HEADER], last.body)
        assert not verify_signature(SECRET, last.headers[SIGNATURE_HEADER], last.body + b" ")
        body = json.loads(last.body)
        assert body["event"] == "delivery.ready"
        assert body["delivery_id"] == delivery["id"]
        assert body["images"] == 2
        assert api.http.get(body["download_url"]).status_code == 200

        path = f"/v1/deliveries/{delivery['id']}/webhooks"
        log = api.wait_for(
            lambda: [
                w
                for w in api.ok("GET", "export", path, ws.client.token)
                if w["status"] == "delivered"
            ]
        )
        assert [a["status_code"] for a in log[0]["attempts"]] == [500, 503, 200]

        resent = api.ok("POST", "export", path, ws.client.token)
        assert resent["status"] == "pending"
        api.wait_for(lambda: len(receiver.received) >= 4)
        other = api.client()
        assert api.call("GET", "export", path, other.token).status_code == 404
        assert api.call("POST", "export", path, other.token).status_code == 404
    finally:
        receiver.close()


def test_slow_receiver_does_not_hold_up_other_deliveries(api: Api) -> None:
    slow = Receiver(delay_s=3.0)  # longer than the webhook timeout: every attempt times out
    fast = Receiver()
    try:
        slow_ws = workspace(
            api, images=1, review={"mode": "auto"}, webhook_url=slow.url, webhook_secret=SECRET
        )
        fast_ws = workspace(
            api, images=1, review={"mode": "auto"}, webhook_url=fast.url, webhook_secret=SECRET
        )
        for ws in (slow_ws, fast_ws):
            api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
            label_all(api, ws, 1)
        ready_delivery(api, fast_ws)
        api.wait_for(lambda: fast.received, timeout=10)
        slow_delivery = ready_delivery(api, slow_ws)
        path = f"/v1/deliveries/{slow_delivery['id']}/webhooks"
        hooks = api.wait_for(
            lambda: [
                w for w in api.ok("GET", "export", path, slow_ws.client.token) if w["attempts"]
            ],
            timeout=10,
        )
        assert "Timeout" in (hooks[0]["attempts"][0]["error"] or "")
    finally:
        slow.close()
        fast.close()


def test_webhook_to_an_inward_address_is_refused_when_the_project_is_saved(api: Api) -> None:
    """Refused at once, before anything is stored; a name that resolves inward only later is
    refused again before each send (tests/unit/test_urlsafety.py)."""
    client = api.client()
    body = {
        "name": "p",
        "ontology": {"classes": [{"id": 1, "name": "car"}]},
        "vendors": [{"vendor_id": api.org("vendor"), "share": 1.0}],
        "webhook_url": "http://169.254.169.254/latest/meta-data",
        "webhook_secret": SECRET,
    }
    response = api.call("POST", "ingest", "/v1/projects", client.token, json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unsafe_url"
    assert api.ok("GET", "ingest", "/v1/projects", client.token) == []


def test_webhook_url_needs_a_secret(api: Api) -> None:
    client = api.client()
    body = {
        "name": "p",
        "ontology": {"classes": [{"id": 1, "name": "car"}]},
        "vendors": [{"vendor_id": api.org("vendor"), "share": 1.0}],
        "webhook_url": "https://example.org/hook",
    }
    response = api.call("POST", "ingest", "/v1/projects", client.token, json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "webhook_secret_required"


def jsonl_items(zf: zipfile.ZipFile) -> list[str]:
    lines = zf.read("jsonl/annotations.jsonl").decode().splitlines()
    return [json.loads(line)["item_id"] for line in lines if line]


def test_incremental_deliveries_hold_only_what_is_new(api: Api) -> None:
    ws = workspace(api, images=3, review={"mode": "auto"}, delivery_formats=["jsonl"])
    label_all(api, ws, 2)
    path = f"/v1/batches/{ws.batch_id}/deliveries"

    def request(kind: str) -> dict[str, Any]:
        api.wait_for(
            lambda: (
                api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token)["progress"][
                    "accepted"
                ]
                >= 0
            )
        )
        requested = api.ok("POST", "export", path, ws.client.token, json={"kind": kind})
        return ready_delivery(api, ws, requested["id"])

    # Wait until export has both accepted items, then take the first increment.
    api.wait_for(
        lambda: (
            api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token)["progress"][
                "accepted"
            ]
            == 2
        )
    )
    first = request("incremental")
    first_items = jsonl_items(download(api, first))
    assert len(first_items) == 2
    label_all(api, ws, 1)
    api.wait_for(
        lambda: (
            api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token)["progress"][
                "accepted"
            ]
            == 3
        )
    )
    second = request("incremental")
    second_items = jsonl_items(download(api, second))
    assert len(second_items) == 1 and second_items[0] not in first_items
    everything = jsonl_items(download(api, request("partial")))
    assert sorted(everything) == sorted(first_items + second_items)


def test_a_delivery_in_every_format_with_images_verifies(api: Api) -> None:
    ws = workspace(api, images=2, review={"mode": "auto"})
    label_all(api, ws, 2)
    api.wait_for(
        lambda: (
            api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token)["progress"][
                "accepted"
            ]
            == 2
        )
    )
    body = {"kind": "partial", "formats": ["coco", "yolo", "voc", "jsonl"], "include_images": True}
    requested = api.ok(
        "POST", "export", f"/v1/batches/{ws.batch_id}/deliveries", ws.client.token, json=body
    )
    delivery = ready_delivery(api, ws, requested["id"])
    assert delivery["options"]["formats"] == ["coco", "jsonl", "voc", "yolo"]
    zf = download(api, delivery)
    manifest = json.loads(zf.read("manifest.json"))
    for entry in manifest["files"]:
        assert hashlib.sha256(zf.read(entry["path"])).hexdigest() == entry["sha256"]
    names = set(zf.namelist())
    assert {
        "coco/annotations.json",
        "yolo/classes.txt",
        "voc/labels.txt",
        "jsonl/annotations.jsonl",
    } <= names
    images = sorted(n for n in names if n.startswith("images/"))
    assert len(images) == 2
    uploaded = {hashlib.sha256(jpeg(1000 + i)).hexdigest() for i in range(2)}
    assert {hashlib.sha256(zf.read(n)).hexdigest() for n in images} == uploaded
    other = api.client()
    assert (
        api.call("GET", "export", f"/v1/deliveries/{delivery['id']}", other.token).status_code
        == 404
    )


def exif_rotated_jpeg() -> bytes:
    """A 640x480 JPEG whose EXIF says: rotate 90 degrees (orientation 6) to display."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), "gray").save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def test_yolo_of_an_exif_rotated_image_is_normalised_by_its_displayed_size(api: Api) -> None:
    ws = workspace(api, images=0, review={"mode": "auto"}, delivery_formats=["yolo", "coco"])
    item = api.upload(ws.client, ws.batch_id, exif_rotated_jpeg()).json()
    assert (item["width"], item["height"]) == (480, 640)  # as displayed
    task = api.next_task(ws.annotators[0]).json()
    assert (task["image"]["width"], task["image"]["height"]) == (480, 640)
    box = {"class_id": 1, "bbox": [48, 128, 96, 64]}
    assert api.submit(ws.annotators[0], task, [box]).status_code == 200
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    zf = download(api, ready_delivery(api, ws))
    # Hand-computed: cx = (48 + 96/2) / 480, cy = (128 + 64/2) / 640, w = 96/480, h = 64/640.
    label = zf.read(f"yolo/labels/{item['id']}.txt").decode().strip()
    assert label == "0 0.200000 0.250000 0.200000 0.100000"
    coco = json.loads(zf.read("coco/annotations.json"))
    assert (coco["images"][0]["width"], coco["images"][0]["height"]) == (480, 640)
    assert coco["annotations"][0]["bbox"] == [48, 128, 96, 64]
