"""Faces and plates blurred at ingest, against running services: what annotators see, what
the client's delivery holds, and what is stored, for each redaction mode."""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from typing import Any

import cv2
import numpy as np

from aviary_devkit.media.video import encode
from aviary_devkit.processes import ServiceSet
from shared.store.storage import ObjectStorage, content_key
from shared.vision.redaction import Detector, Region
from tests.integration.test_export_api import ready_delivery
from tests.integration.test_video_flow import upload_video, video_workspace
from tests.support import Api, Workspace, workspace
from tests.unit.test_redaction import decode, face, jpeg, street

FACE = (200, 300, 120)  # top, left, size of the face drawn into the street
CLASSES = {"classes": [{"id": 1, "name": "car"}, {"id": 2, "name": "face", "redact": True}]}


def picture_with_a_face(seed: int) -> bytes:
    scene = street(seed)
    top, left, size = FACE
    scene[top : top + size, left : left + size] = face(size)
    return jpeg(scene)


def faces_found(picture: np.ndarray) -> int:
    """Faces the full-size detector still finds where the face was drawn."""
    top, left, size = FACE
    found = Detector(scale=1.0).detect(picture)
    return sum(
        r.kind == "face" and r.overlaps(Region(left, top, size, size, "face")) for r in found
    )


def changed(a: np.ndarray, b: np.ndarray, top: int, left: int, size: int) -> float:
    """Mean difference of two pictures over a square."""
    square = (slice(top, top + size), slice(left, left + size))
    return float(np.abs(a[square].astype(int) - b[square].astype(int)).mean())


def detail(picture: np.ndarray, top: int, left: int, size: int) -> float:
    """How much fine detail a square holds (the variance of its Laplacian)."""
    grey = cv2.cvtColor(picture[top : top + size, left : left + size], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def project_with_a_face(api: Api, seed: int, redaction: dict[str, Any]) -> tuple[Workspace, bytes]:
    ws = workspace(
        api,
        images=0,
        ontology=CLASSES,
        review={"mode": "auto"},
        include_images=True,
        privacy={"redaction": redaction},
    )
    data = picture_with_a_face(seed)
    assert api.upload(ws.client, ws.batch_id, data).status_code == 201
    return ws, data


def seen_by_the_annotator(api: Api, ws: Workspace) -> tuple[dict[str, Any], np.ndarray]:
    task = api.next_task(ws.annotators[0]).json()
    return task, decode(api.http.get(task["image"]["url"]).content)


def delivered_picture(api: Api, ws: Workspace) -> bytes:
    delivery = ready_delivery(api, ws)
    zf = zipfile.ZipFile(io.BytesIO(api.http.get(delivery["download_url"]).content))
    [name] = [n for n in zf.namelist() if n.startswith("images/")]
    return zf.read(name)


def test_annotators_see_the_face_blurred_and_the_client_gets_the_original(api: Api) -> None:
    ws, original = project_with_a_face(api, 21, {"mode": "annotators"})
    task, seen = seen_by_the_annotator(api, ws)
    assert faces_found(decode(original)) == 1 and faces_found(seen) == 0  # the face is gone
    assert changed(seen, decode(original), *FACE) > 10
    # Away from the face the picture is the same (within JPEG's rounding).
    away = np.abs(seen[500:700, 900:1200].astype(int) - decode(original)[500:700, 900:1200])
    assert float(away.mean()) < 3
    box = {"class_id": 1, "bbox": [700, 400, 200, 100]}
    assert api.submit(ws.annotators[0], task, [box]).status_code == 200
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    assert delivered_picture(api, ws) == original
    [item] = api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}/items", ws.client.token)["items"]
    assert item["sha256"] == hashlib.sha256(original).hexdigest()
    assert item["blurred"]["faces"] >= 1 and item["blurred"]["frames"] is None


def test_everyone_sees_it_blurred_the_original_is_never_kept_and_drawn_regions_blur_too(
    api: Api, services: ServiceSet
) -> None:
    ws, original = project_with_a_face(api, 22, {"mode": "everyone", "keep_original": False})
    task, seen = seen_by_the_annotator(api, ws)
    assert faces_found(decode(original)) == 1 and faces_found(seen) == 0
    storage = ObjectStorage(services.settings)
    digest = hashlib.sha256(original).hexdigest()
    key = content_key(ws.client.org_id, digest)
    assert not api_exists(storage, services.settings.images_bucket, key)
    # The annotator marks a region the detector did not find (here: part of the street).
    missed = (380, 900, 160)
    boxes = [
        {"class_id": 1, "bbox": [100, 500, 150, 80]},
        {"class_id": 2, "bbox": [missed[1], missed[0], missed[2], missed[2]]},
    ]
    assert api.submit(ws.annotators[0], task, boxes).status_code == 200
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    delivered = decode(delivered_picture(api, ws))
    assert faces_found(delivered) == 0
    before = detail(seen, *missed)
    assert before > 50 and detail(delivered, *missed) < 0.2 * before


def api_exists(storage: ObjectStorage, bucket: str, key: str) -> bool:
    return asyncio.run(storage.exists(bucket, key))


def test_a_video_s_frames_reach_annotators_blurred(api: Api) -> None:
    top, left, size = FACE
    frames = []
    for seed in range(3):
        scene = street(9_400 + seed)
        scene[top : top + size, left : left + size] = face(size)
        frames.append(cv2.cvtColor(scene, cv2.COLOR_BGR2RGB).astype(np.uint8))
    ws = video_workspace(api, privacy={"redaction": {"mode": "everyone", "keep_original": False}})
    response = upload_video(api, ws.client, ws.batch_id, encode(frames, 1280, 720, 5), "walk.mp4")
    assert response.status_code == 201, response.text
    item = response.json()
    assert item["blurred"]["frames"] == 3 and item["blurred"]["faces"] >= 3
    task = api.next_task(ws.annotators[0]).json()
    urls = task["video"]["frames"]
    assert len(urls) == item["frame_count"] == 3
    for url in urls:
        assert faces_found(decode(api.http.get(url).content)) == 0
