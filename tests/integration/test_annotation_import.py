"""Another tool's annotations into a project, against the running services: the mapping step
(`POST /v1/projects/{id}/imports/check`), a multipart upload carrying a COCO file whose shapes
become the items' pre-labels (all or nothing), and `aviary import` doing the same from disk."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from aviary_devkit.processes import ServiceSet
from tests.integration.test_cli import run
from tests.support import Api, Tenant

ONTOLOGY = {
    "classes": [
        {"id": 1, "name": "car"},
        {"id": 2, "name": "pedestrian", "kind": "polygon"},
    ]
}


def picture(seed: int, width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (seed % 256, 90, 160)).save(out, "JPEG", quality=90)
    return out.getvalue()


def uploaded(api: Api, client: Tenant, batch: str, name: str, seed: int) -> str:
    """A picture pushed under `name` into the batch; its item id."""
    answer = api.call(
        "POST",
        "ingest",
        f"/v1/batches/{batch}/items",
        client.token,
        content=picture(seed),
        params={"file_name": name},
        headers={"content-type": "image/jpeg"},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def coco(*labels: str) -> dict[str, Any]:
    """Two 64x48 images; a car box on each and a pedestrian outline on the second, under
    the category names given (car, pedestrian by default)."""
    car, pedestrian = labels or ("car", "pedestrian")
    return {
        "images": [
            {"id": 1, "file_name": "images/a.jpg", "width": 64, "height": 48},
            {"id": 2, "file_name": "images/b.jpg", "width": 64, "height": 48},
        ],
        "categories": [{"id": 7, "name": car}, {"id": 9, "name": pedestrian}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [4, 5, 20, 10], "area": 200},
            {"id": 2, "image_id": 2, "category_id": 7, "bbox": [30, 8, 12, 12], "area": 144},
            {
                "id": 3,
                "image_id": 2,
                "category_id": 9,
                "bbox": [2, 2, 10, 20],
                "area": 100,
                "segmentation": [[2, 2, 12, 2, 12, 22, 2, 22]],
            },
        ],
    }


@pytest.fixture
def setup(api: Api) -> tuple[Tenant, dict[str, Any], str, str]:
    client = api.client()
    vendor = api.org("vendor")
    annotator = api.token(vendor, "annotator", "import-annotator")
    project = api.project(client, vendor, ontology=ONTOLOGY, review={"mode": "auto"})
    return client, project, vendor, annotator


def check(api: Api, client: Tenant, project_id: str, body: bytes, fmt: str, **headers: str) -> Any:
    answer = api.call(
        "POST",
        "ingest",
        f"/v1/projects/{project_id}/imports/check",
        client.token,
        params={"format": fmt},
        content=body,
        headers=headers,
    )
    return answer


def test_the_mapping_step_reports_what_maps_and_refuses_what_does_not(
    api: Api, setup: tuple[Tenant, dict[str, Any], str, str]
) -> None:
    client, project, _, _ = setup
    good = check(api, client, project["id"], json.dumps(coco()).encode(), "coco")
    assert good.status_code == 200, good.text
    report = good.json()
    assert report["ok"] and (report["images"], report["shapes"]) == (2, 3)
    assert {r["label"]: r["shapes"] for r in report["labels"]} == {"car": 2, "pedestrian": 1}

    person = json.dumps(coco("car", "person")).encode()
    unknown = check(api, client, project["id"], person, "coco").json()
    assert not unknown["ok"] and "label 'person'" in unknown["refused"][0]
    renamed = check(
        api,
        client,
        project["id"],
        person,
        "coco",
        **{"X-Import-Mapping": '{"person": "pedestrian"}'},
    ).json()
    assert renamed["ok"] and renamed["shapes"] == 3

    broken = check(api, client, project["id"], b"{not json", "coco")
    assert broken.status_code == 422 and broken.json()["error"]["code"] == "invalid_file"
    other = check(api, client, project["id"], b"{}", "tiff")
    assert other.status_code == 422 and other.json()["error"]["code"] == "unknown_format"
    # A folder format comes as a zip, whose paths may not climb out.
    sneaky = io.BytesIO()
    with zipfile.ZipFile(sneaky, "w") as zf:
        zf.writestr("../labels/a.txt", "0 0.5 0.5 0.1 0.1\n")
    climbing = check(api, client, project["id"], sneaky.getvalue(), "yolo")
    assert climbing.status_code == 422 and climbing.json()["error"]["code"] == "unsafe_path"
    # Someone else's project is not there.
    stranger = api.client()
    assert check(api, stranger, project["id"], b"{}", "coco").status_code == 404


def test_an_upload_with_a_coco_file_makes_pre_labels_or_keeps_nothing(
    api: Api, setup: tuple[Tenant, dict[str, Any], str, str]
) -> None:
    client, project, _, annotator = setup
    batch = api.batch(client, project["id"])
    files = [
        ("files", ("a.jpg", picture(1), "image/jpeg")),
        ("files", ("b.jpg", picture(2), "image/jpeg")),
    ]

    def upload(document: dict[str, Any]) -> Any:
        parts = [
            *files,
            ("annotations", ("instances.json", json.dumps(document).encode(), "application/json")),
        ]
        return api.call(
            "POST",
            "ingest",
            f"/v1/batches/{batch}/items",
            client.token,
            files=parts,
            data={"annotations_format": "coco"},
        )

    refused = upload(coco("car", "person"))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "import_refused" and not error["details"]["report"]["ok"]
    assert api.ok("GET", "ingest", f"/v1/batches/{batch}", client.token)["item_count"] == 0

    done = upload(coco())
    assert done.status_code == 200, done.text
    assert [r["item"]["has_pre_annotation"] for r in done.json()["results"]] == [True, True]
    tasks = [api.wait_for(lambda: (r := api.next_task(annotator, 2)).status_code == 200 and r)]
    shapes = tasks[0].json()["pre_annotation"]["shapes"]
    assert {s["source"]["model"] for s in shapes} == {"import:coco"}
    assert {s["kind"] for s in shapes} <= {"bbox", "polygon"}


def test_aviary_import_reads_maps_and_pushes_from_disk(
    services: ServiceSet, api: Api, setup: tuple[Tenant, dict[str, Any], str, str], tmp_path: Path
) -> None:
    client, project, _, _ = setup
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(picture(11))
    (tmp_path / "images" / "b.jpg").write_bytes(picture(12))
    export = tmp_path / "instances.json"
    export.write_text(json.dumps(coco("car", "person")))
    args = ["import", str(export), "--from", "coco", "--project", project["id"]]

    code, refused = run(services, client.token, *args)
    assert code == 5 and not refused["report"]["ok"]
    code, dry = run(services, client.token, *args, "--map", "person=pedestrian", "--dry-run")
    assert code == 0 and dry["dry_run"] and dry["report"]["shapes"] == 3
    code, done = run(services, client.token, *args, "--map", "person=pedestrian", "--seal")
    assert code == 0, done
    assert (done["push"]["uploaded"], done["push"]["refused"]) == (2, [])
    batch = api.ok("GET", "ingest", f"/v1/batches/{done['push']['batch_id']}", client.token)
    assert batch["item_count"] == 2 and batch["status"] == "sealed"
    items = api.ok("GET", "ingest", f"/v1/batches/{batch['id']}/items", client.token)["items"]
    assert all(i["has_pre_annotation"] for i in items)

    (tmp_path / "images" / "b.jpg").unlink()
    code, missing = run(services, client.token, *args, "--map", "person=pedestrian")
    assert code == 5 and any("'images/b.jpg'" in r for r in missing["report"]["refused"])


def test_a_file_for_items_already_uploaded_becomes_proposals_on_their_open_tasks(
    services: ServiceSet,
    api: Api,
    setup: tuple[Tenant, dict[str, Any], str, str],
    tmp_path: Path,
) -> None:
    client, project, _, annotator = setup
    batch = api.batch(client, project["id"])
    shapes_of: dict[str, int] = {}  # item id -> shapes the file has for it
    for name, seed, count in (("a.jpg", 21, 1), ("b.jpg", 22, 2)):
        shapes_of[uploaded(api, client, batch, name, seed)] = count
    path = f"/v1/batches/{batch}/imports/annotations"

    def send(document: dict[str, Any], **headers: str) -> Any:
        return api.call(
            "POST",
            "ingest",
            path,
            client.token,
            params={"format": "coco"},
            content=json.dumps(document).encode(),
            headers=headers,
        )

    # A name the batch does not have: nothing is imported.
    stray = coco()
    stray["images"][1]["file_name"] = "images/c.jpg"
    refused = send(stray)
    assert refused.status_code == 422, refused.text
    report = refused.json()["error"]["details"]["report"]
    assert report["refused"] == ["images/c.jpg: no item of the batch had this file name"]
    # The right name, but the file says another size: the shapes would land elsewhere.
    resized = coco()
    resized["images"][0] |= {"width": 128, "height": 96}
    refused = send(resized)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"]["report"]["refused"] == [
        "images/a.jpg: 128x96 in the file, but the item is 64x48 (its shapes would be misplaced)"
    ]

    done = send(coco())
    assert done.status_code == 202, done.text
    assert done.json()["items"] == 2
    # Sent again (here with `aviary import --uploaded`), it replaces what it added.
    export = tmp_path / "instances.json"
    export.write_text(json.dumps(coco()))
    args = ["--from", "coco", "--project", project["id"], "--batch", batch, "--uploaded"]
    code, again = run(services, client.token, "import", str(export), *args)
    assert code == 0 and again["items"] == 2, again

    def proposals() -> tuple[str, list[dict[str, Any]]] | None:
        answer = api.next_task(annotator, 1)
        if answer.status_code != 200:
            return None
        task = answer.json()
        shapes = (task.get("pre_annotation") or {}).get("shapes", [])
        release = f"/v1/tasks/{task['id']}/release"
        api.call("POST", "dispatch", release, annotator, json={"lease_id": task["lease_id"]})
        return (task["item_id"], list(shapes)) if shapes else None

    item_id, shapes = api.wait_for(proposals)
    assert {s["source"]["model"] for s in shapes} == {"import:coco"}
    # a.jpg has a box, b.jpg a box and an outline: once each, though the file came twice.
    assert len(shapes) == shapes_of[item_id]

    other = api.client()
    assert (
        api.call(
            "POST", "ingest", path, other.token, params={"format": "coco"}, content=b"{}"
        ).status_code
        == 404
    )


def test_a_file_imported_as_gold_becomes_the_items_known_answers(
    services: ServiceSet,
    api: Api,
    setup: tuple[Tenant, dict[str, Any], str, str],
    tmp_path: Path,
) -> None:
    client, project, _, _ = setup
    batch = api.batch(client, project["id"])
    for name, seed in (("a.jpg", 31), ("b.jpg", 32)):
        uploaded(api, client, batch, name, seed)
    export = tmp_path / "instances.json"
    export.write_text(json.dumps(coco()))
    args = ["--from", "coco", "--project", project["id"], "--batch", batch]
    # Gold is for images already in: without --uploaded it is a usage error.
    code, _ = run(services, client.token, "import", str(export), *args, "--as", "gold")
    assert code == 2
    for _ in range(2):  # sent twice: one gold per item all the same
        code, done = run(
            services, client.token, "import", str(export), *args, "--uploaded", "--as", "gold"
        )
        assert code == 0 and done["items"] == 2, done
    path = f"/v1/projects/{project['id']}/gold"

    def golds() -> list[dict[str, Any]] | None:
        found = api.ok("GET", "review", path, client.token)
        return found if len(found) == 2 else None

    found = api.wait_for(golds)
    assert {g["created_by"] for g in found} == {"import:coco"}
    counts = sorted(len(g["annotation"]["shapes"]) for g in found)
    assert counts == [1, 2]
    # Known answers carry no model as their source.
    assert all(s.get("source") is None for g in found for s in g["annotation"]["shapes"])


def test_yolo_labels_for_uploaded_images_take_their_sizes_from_the_items(
    services: ServiceSet,
    api: Api,
    setup: tuple[Tenant, dict[str, Any], str, str],
    tmp_path: Path,
) -> None:
    client, project, _, _ = setup
    batch = api.batch(client, project["id"])
    uploaded(api, client, batch, "a.jpg", 41)
    dataset = tmp_path / "dataset"
    (dataset / "labels").mkdir(parents=True)
    (dataset / "data.yaml").write_text("names:\n  - car\n  - pedestrian\n")
    # A car box of 32x24 at the middle of the 64x48 image: normalised.
    (dataset / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    args = ["--from", "yolo", "--project", project["id"], "--batch", batch, "--uploaded"]
    code, done = run(services, client.token, "import", str(dataset), *args)
    assert code == 0 and done["items"] == 1, done
    assert done["report"]["shapes"] == 1


def test_images_uploaded_under_other_names_are_matched_by_content(
    services: ServiceSet,
    api: Api,
    setup: tuple[Tenant, dict[str, Any], str, str],
    tmp_path: Path,
) -> None:
    """The file names a.jpg and b.jpg; the batch has them as cam-0001.jpg and cam-0002.jpg
    (a URL import, a renaming camera). With the images at hand, `aviary import --uploaded
    --images` matches them by SHA-256; by name alone nothing is imported."""
    client, project, _, _ = setup
    batch = api.batch(client, project["id"])
    ids = {
        local: uploaded(api, client, batch, stored, seed)
        for local, stored, seed in (("a.jpg", "cam-0001.jpg", 51), ("b.jpg", "cam-0002.jpg", 52))
    }
    (tmp_path / "images").mkdir()
    for local, seed in (("a.jpg", 51), ("b.jpg", 52)):
        (tmp_path / "images" / local).write_bytes(picture(seed))
    export = tmp_path / "instances.json"
    export.write_text(json.dumps(coco()))
    args = ["--from", "coco", "--project", project["id"], "--batch", batch, "--uploaded"]

    code, by_name = run(services, client.token, "import", str(export), *args)
    assert code == 5, by_name
    assert by_name["details"]["report"]["refused"] == [
        "images/a.jpg: no item of the batch had this file name",
        "images/b.jpg: no item of the batch had this file name",
    ]

    images = ["--images", str(tmp_path / "images")]
    code, by_content = run(services, client.token, "import", str(export), *args, *images)
    assert code == 0 and by_content["items"] == 2, by_content

    # A picture the batch does not hold: refused whole, naming the content it looked for.
    (tmp_path / "images" / "b.jpg").write_bytes(picture(53))
    code, stray = run(services, client.token, "import", str(export), *args, *images)
    refused = stray["details"]["report"]["refused"]
    assert code == 5 and len(refused) == 1, stray
    assert refused[0].startswith("images/b.jpg: no item of the batch had con")

    # A malformed digest is refused with its own code.
    bad = api.call(
        "POST",
        "ingest",
        f"/v1/batches/{batch}/imports/annotations",
        client.token,
        params={"format": "coco"},
        files=[
            ("file", ("annotations", json.dumps(coco()).encode())),
            ("checksums", ("c.json", json.dumps({"images/a.jpg": "not-a-digest"}).encode())),
        ],
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_checksums"
    listed = api.ok("GET", "ingest", f"/v1/batches/{batch}/items", client.token)["items"]
    assert {i["id"] for i in listed} == set(ids.values())  # matching adds no item
