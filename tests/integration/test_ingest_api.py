"""The ingest API against running services: auth, isolation, refusals, duplicates."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.support import Api, jpeg, workspace


def error_code(response: object) -> str:
    return str(response.json()["error"]["code"])  # type: ignore[attr-defined]


def test_requests_without_valid_credentials_get_401(api: Api) -> None:
    for token in (None, "nonsense", "av1.e30.forged"):
        response = api.call("GET", "ingest", "/v1/projects", token)
        assert response.status_code == 401
        assert error_code(response) == "unauthorized"


def test_a_role_that_may_not_act_gets_403(api: Api) -> None:
    ws = workspace(api, images=0)
    response = api.call("POST", "ingest", "/v1/projects", ws.annotators[0], json={})
    assert response.status_code == 403


def test_client_b_cannot_see_or_touch_client_a_data(api: Api) -> None:
    ws = workspace(api, images=1)
    other = api.client()
    pid, bid = ws.project["id"], ws.batch_id
    assert api.call("GET", "ingest", f"/v1/projects/{pid}", other.token).status_code == 404
    assert api.call("GET", "ingest", f"/v1/batches/{bid}", other.token).status_code == 404
    assert (
        api.call("POST", "ingest", f"/v1/projects/{pid}/batches", other.token, json={}).status_code
        == 404
    )
    assert api.upload(other, bid, jpeg(5)).status_code == 404
    assert api.call("POST", "ingest", f"/v1/batches/{bid}/seal", other.token).status_code == 404
    listed = api.ok("GET", "ingest", "/v1/projects", other.token)
    assert pid not in {p["id"] for p in listed}


def test_same_bytes_twice_are_one_item(api: Api) -> None:
    ws = workspace(api, images=0)
    first = api.upload(ws.client, ws.batch_id, jpeg(7))
    second = api.upload(ws.client, ws.batch_id, jpeg(7))
    assert first.status_code == 201 and not first.json()["duplicate"]
    assert second.status_code == 200 and second.json()["duplicate"]
    assert first.json()["id"] == second.json()["id"]
    batch = api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token)
    assert batch["item_count"] == 1


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(buf, "PNG")
    return buf.getvalue()


def gif_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(buf, "GIF")
    return buf.getvalue()


def pixel_bomb() -> bytes:
    """A 20000 x 20000 one-bit PNG: a few KB on the wire, 400 megapixels when decoded."""
    buf = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"", 400, "empty_body"),
        (b"just some text, named photo.jpg", 415, "not_an_image"),
        (jpeg(3)[:5000], 422, "corrupt_image"),
        (png_bytes()[:-30], 422, "corrupt_image"),
        (gif_bytes(), 415, "unsupported_format"),
        (pixel_bomb(), 413, "too_many_pixels"),
    ],
    ids=["empty", "text", "truncated-jpeg", "truncated-png", "gif", "pixel-bomb"],
)
def test_bad_uploads_are_refused_and_nothing_is_stored(
    api: Api, body: bytes, status: int, code: str
) -> None:
    ws = workspace(api, images=0)
    response = api.upload(ws.client, ws.batch_id, body)
    assert response.status_code == status
    assert error_code(response) == code
    assert response.json()["error"]["message"]
    batch = api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token)
    assert batch["item_count"] == 0


def test_oversized_body_is_refused_while_streaming(api: Api) -> None:
    ws = workspace(api, images=0)
    limit = api.services.settings.max_upload_bytes

    def chunks() -> Iterator[bytes]:
        block = b"\xff" * (1024 * 1024)
        for _ in range(limit // len(block) + 2):
            yield block

    response = api.call(
        "POST",
        "ingest",
        f"/v1/batches/{ws.batch_id}/items",
        ws.client.token,
        content=chunks(),
        headers={"content-type": "image/jpeg"},
    )
    assert response.status_code == 413
    assert error_code(response) == "too_large"


def test_multipart_reports_each_file(api: Api) -> None:
    ws = workspace(api, images=0)
    files = [
        ("files", ("a.jpg", jpeg(21), "image/jpeg")),
        ("files", ("b.jpg", jpeg(22), "image/jpeg")),
        ("files", ("../../etc/passwd.jpg", b"not an image", "image/jpeg")),
        ("files", ("a-again.jpg", jpeg(21), "image/jpeg")),
    ]
    report = api.ok(
        "POST", "ingest", f"/v1/batches/{ws.batch_id}/items", ws.client.token, files=files
    )
    assert (report["accepted"], report["duplicates"], report["refused"]) == (2, 1, 1)
    refused = [r for r in report["results"] if r["error"]]
    assert refused[0]["error"]["code"] == "not_an_image"
    assert refused[0]["file_name"] == "../../etc/passwd.jpg"  # metadata only, never a path


def test_sealed_batch_refuses_uploads_and_sealing_twice_is_safe(api: Api) -> None:
    ws = workspace(api, images=1)
    path = f"/v1/batches/{ws.batch_id}/seal"
    first = api.ok("POST", "ingest", path, ws.client.token)
    again = api.ok("POST", "ingest", path, ws.client.token)
    assert first["status"] == again["status"] == "sealed"
    assert first["sealed_at"] == again["sealed_at"]
    response = api.upload(ws.client, ws.batch_id, jpeg(99))
    assert response.status_code == 409
    assert error_code(response) == "batch_sealed"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"vendors_share": 0.5}, "invalid_vendors"),
        ({"vendor": "org_doesnotexist"}, "unknown_vendor"),
        ({"classes": [{"id": 1, "name": "car"}, {"id": 2, "name": "Car"}]}, "invalid_ontology"),
        ({"classes": [{"id": 1, "name": "car"}, {"id": 1, "name": "bus"}]}, "invalid_ontology"),
        ({"classes": []}, "invalid_ontology"),  # an image project needs classes
    ],
)
def test_invalid_projects_are_refused_with_a_precise_code(
    api: Api, change: dict[str, object], code: str
) -> None:
    client = api.client()
    vendor = str(change.get("vendor", api.org("vendor")))
    body = {
        "name": "p",
        "ontology": {"classes": change.get("classes", [{"id": 1, "name": "car"}])},
        "vendors": [{"vendor_id": vendor, "share": change.get("vendors_share", 1.0)}],
    }
    response = api.call("POST", "ingest", "/v1/projects", client.token, json=body)
    assert response.status_code == 422
    assert error_code(response) == code
    assert api.ok("GET", "ingest", "/v1/projects", client.token) == []


def test_every_response_carries_a_correlation_id(api: Api) -> None:
    response = api.call("GET", "ingest", "/healthz", None, headers={"x-correlation-id": "abc123"})
    assert response.headers["x-correlation-id"] == "abc123"
    assert api.call("GET", "ingest", "/healthz", None).headers["x-correlation-id"]


@pytest.mark.parametrize("service", ["ingest", "dispatch", "review", "export"])
def test_every_service_reports_health_readiness_and_metrics(api: Api, service: str) -> None:
    assert api.call("GET", service, "/healthz", None).json()["status"] == "ok"
    ready = api.call("GET", service, "/readyz", None)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "mongo": "ok",
        "broker": "ok",
        "storage": "ok",
        "started": "ok",
    }
    metrics = api.call("GET", service, "/metrics", api.operator).text
    assert "aviary_http_request_seconds" in metrics
    # Platform-wide counters: not for anyone who asks, nor for a tenant's token.
    for token in (None, api.client().token):
        refused = api.call("GET", service, "/metrics", token)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
