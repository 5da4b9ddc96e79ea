"""Pre-labels through the running services: an operator uploads a detector, a client's project
names it, and the item pushed to ingest reaches its annotator with the detector's proposals
(assist ran the model and published `item.prelabeled`; dispatch made the task from it). The
kept proposal is counted for its model in review's statistics."""

from __future__ import annotations

import io
import json

from PIL import Image

from aviary_devkit.tiny_onnx import bright_rectangle, manifest
from aviary_devkit.tiny_onnx import detector as tiny_detector
from tests.support import Api


def test_an_item_reaches_its_annotator_with_the_detectors_proposals(api: Api) -> None:
    uploaded = api.call(
        "POST",
        "assist",
        "/v1/models",
        api.operator,
        data={"manifest": json.dumps(manifest("live-det"))},
        files={"model": ("det.onnx", tiny_detector(), "application/octet-stream")},
    )
    assert uploaded.status_code == 201, uploaded.text
    client = api.client()
    vendor = api.org("vendor")
    annotator = api.token(vendor, "annotator", "prelabel-annotator")
    project = api.project(
        client,
        vendor,
        ontology={"classes": [{"id": 1, "name": "car"}, {"id": 2, "name": "sign"}]},
        review={"mode": "auto"},
        assist={"prelabel_model": "live-det", "min_confidence": 0.5},
    )
    batch = api.batch(client, project["id"])
    picture = io.BytesIO()
    Image.fromarray(bright_rectangle(128, 96, (32, 24, 96, 72))).save(picture, "JPEG", quality=95)
    assert api.upload(client, batch, picture.getvalue()).status_code == 201

    answer = api.wait_for(lambda: (r := api.next_task(annotator, 2)).status_code == 200 and r)
    task = answer.json()
    shapes = task["pre_annotation"]["shapes"]
    assert [s["class_id"] for s in shapes] == [1]  # the weak "sign" (0.2) is left out
    proposal = shapes[0]
    assert proposal["source"]["by"] == "model" and proposal["source"]["model"] == "live-det@1"
    left, top, width, height = proposal["bbox"]
    assert abs(left - 32) <= 3 and abs(top - 24) <= 3
    assert abs(width - 64) <= 4 and abs(height - 48) <= 4

    assert api.submit(annotator, task, [proposal]).status_code == 200
    path = f"/v1/projects/{project['id']}/assist-stats"
    stats = api.wait_for(lambda: api.ok("GET", "review", path, client.token))
    assert stats[0]["model"] == "live-det@1"
    assert (stats[0]["proposed"], stats[0]["kept"], stats[0]["deleted"]) == (1, 1, 0)
