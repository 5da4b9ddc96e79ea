"""Assist against the running services: an image pushed to ingest reaches assist through
`item.ingested`, and a box on it comes back as the object's outline (GrabCut: no model is
installed), for exactly the people who may work on the item; bad prompts are refused with a
code."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest

from aviary.contracts.shapes import Rle
from aviary_devkit.sim.scenes import Scene, TrueBox, generate_scene, object_masks
from shared.domain import masks
from tests.support import Api, Tenant

WIDTH, HEIGHT = 1280, 720
SEED = 1007  # a street scene with three cars in it


@dataclass
class Item:
    id: str
    scene: Scene
    client: Tenant
    vendor_id: str
    annotator: str
    reviewer: str


def segment(api: Api, token: str | None, body: dict[str, Any]) -> httpx.Response:
    return api.call("POST", "assist", "/v1/assist/segment", token, json=body)


def largest(scene: Scene, label: str = "car") -> tuple[TrueBox, np.ndarray]:
    pairs = [
        (box, np.asarray(mask) > 0)
        for box, mask in zip(scene.boxes, object_masks(scene), strict=True)
        if box.label == label
    ]
    return max(pairs, key=lambda pair: pair[0].w * pair[0].h)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture(scope="module")
def item(api: Api) -> Iterator[Item]:
    """A street scene pushed to a project of one vendor; assist has heard of it."""
    client = api.client()
    vendor = api.org("vendor")
    project = api.project(client, vendor)
    batch = api.batch(client, project["id"])
    scene = generate_scene(SEED, WIDTH, HEIGHT)
    uploaded = api.call(
        "POST",
        "ingest",
        f"/v1/batches/{batch}/items",
        client.token,
        content=scene.jpeg_bytes(92),
        headers={"content-type": "image/jpeg"},
    )
    assert uploaded.status_code == 201, uploaded.text
    annotator = api.token(vendor, "annotator", "outliner")
    pushed = Item(
        uploaded.json()["id"],
        scene,
        client,
        vendor,
        annotator,
        api.token(vendor, "reviewer", "checker"),
    )
    box, _ = largest(scene)
    body = {"item_id": pushed.id, "box": [box.x, box.y, box.w, box.h]}
    # 404 until assist has the item from `item.ingested`.
    api.wait_for(lambda: segment(api, annotator, body).status_code == 200, timeout=60)
    yield pushed


def test_a_box_on_a_pushed_image_comes_back_as_the_objects_outline(api: Api, item: Item) -> None:
    box, truth = largest(item.scene)
    answer = segment(api, item.annotator, {"item_id": item.id, "box": [box.x, box.y, box.w, box.h]})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["model"] == "grabcut"
    assert 0.5 <= result["score"] <= 1
    assert result["elapsed_ms"] > 0
    polygon = [tuple(p) for p in result["polygon"]]
    assert iou(masks.polygon_to_mask(polygon, HEIGHT, WIDTH), truth) >= 0.9
    rle = Rle.model_validate(result["rle"])
    assert rle.size == (HEIGHT, WIDTH)
    mask = masks.decode(rle)
    assert iou(mask, truth) >= 0.9
    assert tuple(result["bbox"]) == masks.bbox(rle)
    # The same request, the same answer (GrabCut's seeding is fixed; the image is kept).
    again = segment(api, item.annotator, {"item_id": item.id, "box": [box.x, box.y, box.w, box.h]})
    assert again.json()["rle"] == result["rle"]


def test_clicks_alone_and_a_negative_click(api: Api, item: Item) -> None:
    box, truth = largest(item.scene)
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    clicks = [
        {"x": cx, "y": cy},
        {"x": box.x + 0.1 * box.w, "y": cy},
        {"x": box.x + 0.9 * box.w, "y": cy},
    ]
    alone = segment(api, item.annotator, {"item_id": item.id, "clicks": clicks})
    assert alone.status_code == 200, alone.text
    assert iou(masks.decode(Rle.model_validate(alone.json()["rle"])), truth) >= 0.5
    # A negative click where the object is: that part goes.
    body = {
        "item_id": item.id,
        "box": [box.x, box.y, box.w, box.h],
        "clicks": [{"x": cx, "y": cy, "positive": False}],
    }
    cut = segment(api, item.annotator, body)
    assert cut.status_code == 200, cut.text
    mask = masks.decode(Rle.model_validate(cut.json()["rle"]))
    assert not mask[round(cy), round(cx)]


def test_who_may_ask_for_help_on_the_item(api: Api, item: Item) -> None:
    box, _ = largest(item.scene)
    body = {"item_id": item.id, "box": [box.x, box.y, box.w, box.h]}
    other_vendor = api.org("vendor")
    for token in (item.annotator, item.reviewer, item.client.token, api.operator):
        assert segment(api, token, body).status_code == 200
    for token in (
        api.token(other_vendor, "annotator", "stranger"),
        api.token(other_vendor, "reviewer", "stranger"),
        api.client().token,
    ):
        answer = segment(api, token, body)
        assert answer.status_code == 404, answer.text  # as for an item that does not exist
        assert answer.json()["error"]["code"] == "not_found"
    admin = api.token(item.vendor_id, "vendor_admin", "boss")
    assert segment(api, admin, body).status_code == 403  # the route is not for vendor admins
    assert segment(api, None, body).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"box": [1400, 10, 50, 50]}, 422, "box_outside_image"),
        ({"box": [-100, -100, 50, 50]}, 422, "box_outside_image"),
        ({"box": [10, 10, 0, 50]}, 422, "empty_box"),
        ({"box": [WIDTH - 1, 10, 50, 50]}, 422, "empty_box"),
        ({}, 422, "no_prompt"),
        ({"clicks": [{"x": 100, "y": 100, "positive": False}]}, 422, "no_prompt"),
        ({"box": [10, 10, 50, 50], "clicks": [{"x": 5000, "y": 10}]}, 422, "click_outside_image"),
        ({"box": [10, 10, 50, 50], "frame": 3}, 422, "frame_out_of_range"),
        ({"box": [10, 10, 50, 50], "model": "sam-vit-b"}, 404, "model_not_found"),
        ({"box": [10, 10, 50, 50], "clicks": [{"x": -1, "y": 10}]}, 422, "invalid_request"),
        ({"box": [10, 10, 50]}, 422, "invalid_request"),
    ],
)
def test_bad_prompts_are_refused_with_a_code(
    api: Api, item: Item, body: dict[str, Any], status: int, code: str
) -> None:
    answer = segment(api, item.annotator, {"item_id": item.id, **body})
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and error["message"]


def test_an_unknown_item_is_not_found(api: Api, item: Item) -> None:
    answer = segment(api, item.annotator, {"item_id": "no-such-item", "box": [10, 10, 50, 50]})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_eight_people_at_once(api: Api, item: Item) -> None:
    """Eight concurrent callers, each box of the scene in turn: every call answers."""
    boxes = [b for b in item.scene.boxes if min(b.w, b.h) >= 12]
    bodies = [
        {"item_id": item.id, "box": [b.x, b.y, b.w, b.h]} for b in boxes * (48 // len(boxes) + 1)
    ][:48]

    def call(body: dict[str, Any]) -> tuple[int, float]:
        with httpx.Client(timeout=30) as http:
            started = time.perf_counter()
            answer = http.post(
                api.services.url("assist") + "/v1/assist/segment",
                json=body,
                headers={"Authorization": f"Bearer {item.annotator}"},
            )
            return answer.status_code, (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, bodies))
    assert {status for status, _ in results} == {200}
    latencies = sorted(ms for _, ms in results)
    print(f"8 at once: median {statistics.median(latencies):.0f} ms, max {latencies[-1]:.0f} ms")
