"""The hostile corpus (tests/corpus/hostile.py) against the running services: every case is
answered with a clear 4xx (status, machine-readable code, message) and nothing is stored."""

from __future__ import annotations

import json
import struct
from typing import Any

import httpx
import pytest

from shared.settings import Settings
from tests.corpus.hostile import (
    BAD_SHAPES,
    HOSTILE_NAMES,
    INWARD_URLS,
    NON_FINITE_BODIES,
    UPLOADS,
    BadShape,
    Upload,
    nested_json,
)
from tests.support import (
    Api,
    Workspace,
    ingest_in_process,
    jpeg,
    operator_headers,
    workspace,
)

ONTOLOGY = {
    "classes": [
        {"id": 1, "name": "car", "kind": "bbox"},
        {"id": 3, "name": "lane area", "kind": "polygon"},
    ]
}


@pytest.fixture(scope="module")
def ws(api: Api) -> Workspace:
    return workspace(api, images=0, ontology=ONTOLOGY)


def item_count(api: Api, ws: Workspace) -> int:
    return int(api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token)["item_count"])


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert error["code"] == code and error["message"], error


@pytest.mark.parametrize("case", UPLOADS, ids=lambda c: c.name)
def test_hostile_files_are_refused_and_nothing_is_stored(
    api: Api, ws: Workspace, case: Upload
) -> None:
    before = item_count(api, ws)
    assert_error(api.upload(ws.client, ws.batch_id, case.body), case.status, case.code)
    assert item_count(api, ws) == before


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n[:20]))
def test_hostile_file_names_are_kept_as_harmless_metadata(
    api: Api, ws: Workspace, name: str
) -> None:
    """A name that breaks the multipart framing itself is refused whole (400, nothing
    stored); any other is kept printable and bounded. The storage key is the content hash
    under the client's prefix, never the name (services/ingest/domain.py)."""
    before = item_count(api, ws)
    seed = 5000 + HOSTILE_NAMES.index(name)
    response = api.call(
        "POST",
        "ingest",
        f"/v1/batches/{ws.batch_id}/items",
        ws.client.token,
        files=[("files", (name, jpeg(seed), "image/jpeg"))],
    )
    if response.status_code == 400:
        assert_error(response, 400, "invalid_body")
        assert item_count(api, ws) == before
        return
    assert response.status_code in (200, 201, 207), response.text[:500]
    [result] = response.json()["results"]
    assert result["error"] is None and result["item"], result
    item = api.ok("GET", "ingest", f"/v1/items/{result['item']['id']}", ws.client.token)
    assert item["file_name"].isprintable() and 0 < len(item["file_name"]) <= 255
    assert item_count(api, ws) == before + 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{" + b'"name": "' + b"x" * (3 * 1024 * 1024) + b'"}', 413, "too_large"),
        (nested_json(100_000), 400, "invalid_body"),
        (nested_json(200), 422, "invalid_request"),
        (b'{"name": "p", "ontology": ', 422, "invalid_request"),
        (b"\xff\xfe\x00garbage", 422, "invalid_request"),
    ],
    ids=["3mb", "nested-100k", "nested-200", "truncated", "binary"],
)
def test_hostile_json_bodies_are_refused(
    api: Api, ws: Workspace, body: bytes, status: int, code: str
) -> None:
    before = api.ok("GET", "ingest", "/v1/projects", ws.client.token)
    response = api.call(
        "POST",
        "ingest",
        "/v1/projects",
        ws.client.token,
        content=body,
        headers={"content-type": "application/json"},
    )
    assert_error(response, status, code)
    assert api.ok("GET", "ingest", "/v1/projects", ws.client.token) == before


def test_script_in_labels_and_instructions_is_stored_as_text_and_served_as_json(
    api: Api, ws: Workspace
) -> None:
    script = "<script>alert(document.cookie)</script>"
    project = api.project(
        ws.client,
        ws.vendor_id,
        name=script,
        instructions=f"<img src=x onerror=alert(1)> {script}",
        ontology={"classes": [{"id": 1, "name": script}]},
    )
    response = api.call("GET", "ingest", f"/v1/projects/{project['id']}", ws.client.token)
    # JSON only, never HTML: the text comes back exactly as given, for pages to escape.
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["ontology"]["classes"][0]["name"] == script


@pytest.fixture(scope="module")
def task(api: Api, ws: Workspace) -> dict[str, Any]:
    assert api.upload(ws.client, ws.batch_id, jpeg(77)).status_code == 201
    response = api.wait_for(
        lambda: (r := api.next_task(ws.annotators[0], wait_s=2)).status_code == 200 and r
    )
    return dict(response.json())


def submit_raw(api: Api, ws: Workspace, task: dict[str, Any], shapes_json: str) -> httpx.Response:
    body = f'{{"lease_id": "{task["lease_id"]}", "annotation": {{"shapes": [{shapes_json}]}}}}'
    return api.call(
        "POST",
        "dispatch",
        f"/v1/tasks/{task['id']}/submit",
        ws.annotators[0],
        content=body.encode(),
        headers={"content-type": "application/json"},
    )


@pytest.mark.parametrize("case", BAD_SHAPES, ids=lambda c: c.name)
def test_impossible_shapes_are_refused_naming_the_shape(
    api: Api, ws: Workspace, task: dict[str, Any], case: BadShape
) -> None:
    response = submit_raw(api, ws, task, json.dumps(case.shape))
    if case.code == "invalid_request":
        assert_error(response, case.status, case.code)
    else:
        assert_error(response, case.status, "invalid_annotation")
        assert response.json()["error"]["details"][0]["code"] == case.code


@pytest.mark.parametrize(
    ("name", "shape"), NON_FINITE_BODIES, ids=[n for n, _ in NON_FINITE_BODIES]
)
def test_nan_and_infinity_are_refused(
    api: Api, ws: Workspace, task: dict[str, Any], name: str, shape: str
) -> None:
    response = submit_raw(api, ws, task, shape)
    assert response.status_code == 422, (name, response.text[:300])


def test_wrong_ontology_version_is_refused_then_the_right_one_is_taken(
    api: Api, ws: Workspace, task: dict[str, Any]
) -> None:
    body = {
        "lease_id": task["lease_id"],
        "annotation": {"shapes": [{"kind": "bbox", "class_id": 1, "bbox": [1, 1, 5, 5]}]},
    }
    path = f"/v1/tasks/{task['id']}/submit"
    wrong = api.call(
        "POST", "dispatch", path, ws.annotators[0], json={**body, "ontology_version": 99}
    )
    assert_error(wrong, 409, "ontology_version_mismatch")
    right = api.call(
        "POST",
        "dispatch",
        path,
        ws.annotators[0],
        json={**body, "ontology_version": task["ontology_version"]},
    )
    assert right.status_code == 200, right.text


async def test_urls_pointing_inward_are_refused_before_anything_is_stored(
    settings: Settings,
) -> None:
    """Webhook and import URLs naming loopback, private, link-local or metadata addresses (in
    any notation) are refused at once; names are checked again before every connection."""
    strict = settings.model_copy(
        update={"webhook_allowed_networks": [], "import_allowed_networks": []}
    )
    async with ingest_in_process(strict) as http:
        op = operator_headers(strict)
        org = (await http.post("/v1/orgs", json={"name": "c", "kind": "client"}, headers=op)).json()
        vendor = (
            await http.post("/v1/orgs", json={"name": "v", "kind": "vendor"}, headers=op)
        ).json()
        token = (
            await http.post(
                "/v1/tokens",
                json={"org_id": org["id"], "role": "client", "subject": "c"},
                headers=op,
            )
        ).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        base = {
            "name": "p",
            "ontology": {"classes": [{"id": 1, "name": "car"}]},
            "vendors": [{"vendor_id": vendor["id"], "share": 1.0}],
        }
        project = (await http.post("/v1/projects", json=base, headers=auth)).json()
        batch = (
            await http.post(f"/v1/projects/{project['id']}/batches", json={}, headers=auth)
        ).json()
        for url in INWARD_URLS:
            hooked = {**base, "webhook_url": url, "webhook_secret": "s" * 20}
            created = await http.post("/v1/projects", json=hooked, headers=auth)
            assert created.status_code == 422, (url, created.text)
            assert created.json()["error"]["code"] in ("unsafe_url", "invalid_request")
            updated = await http.put(f"/v1/projects/{project['id']}", json=hooked, headers=auth)
            assert updated.status_code == 422, (url, updated.text)
        imported = await http.post(
            f"/v1/batches/{batch['id']}/imports",
            json={"urls": [{"url": u} for u in INWARD_URLS]},
            headers=auth,
        )
        assert imported.status_code == 422, imported.text
        error = imported.json()["error"]
        assert error["code"] in ("unsafe_url", "invalid_request")
        projects = (await http.get("/v1/projects", headers=auth)).json()
        assert [p["id"] for p in projects] == [project["id"]]
        assert (await http.get(f"/v1/projects/{project['id']}", headers=auth)).json()[
            "version"
        ] == 1


def test_pixel_bomb_header_is_refused_without_decoding() -> None:
    """The corpus's header-only bomb really claims 10 gigapixels (a sanity check of the case)."""
    case = next(c for c in UPLOADS if c.name == "pixel-bomb-header")
    assert struct.unpack(">II", case.body[16:24]) == (100_000, 100_000)
    assert len(case.body) < 2_000
