"""Assisted labeling in a real browser (Debian's chromium, headless, through Playwright) against
the services as processes, assist included.

The assist mode: an annotator presses A, drags a box around the one object of an image the
test draws (so its true outline is known), adds a click inside and takes one away outside,
accepts the outline with Enter and submits; the submission, as the review desk reads it, holds
a polygon made by GrabCut whose IoU with the truth is at least 0.8. A click with nothing to
segment shows the service's own message.

Pre-labels: an item uploaded with a client pre-annotation whose boxes name a model (`source`)
opens with those boxes as proposals, least confident first under Tab; Delete drops one (and
undo brings it back), Enter accepts one as proposed, Shift+2 gives one another class, dragging
a box's edge accepts one as edited, and one left undecided is dropped at submit after a
warning. The submission keeps each shape's source: as proposed, edited, or none (the client's
own box).

Screenshots go to var/screenshots/ (label-assist.png, label-proposals.png, label-masks.png).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import cv2
import numpy as np
import pytest
from playwright.async_api import Browser, Page, Response
from pycocotools import mask as coco_mask
from shapely.geometry import Polygon

from aviary_devkit.processes import ServiceSet
from tests.e2e.test_workspaces import (
    browser,  # noqa: F401 - the fixture
    drag,
    new_page,
    open_next_task,
    screen,
    shapes,
    shot,
    view,
)
from tests.support import Api, jpeg, workspace

pytestmark = pytest.mark.e2e

OUTLINE_ONTOLOGY = {
    "classes": [
        {"id": 1, "name": "car", "kind": "polygon"},
        {"id": 2, "name": "sign", "kind": "polygon"},
    ]
}
BOX_ONTOLOGY = {
    "classes": [
        {"id": 1, "name": "car", "kind": "bbox"},
        {"id": 2, "name": "person", "kind": "bbox"},
    ]
}
# The object the test draws: a red, car-like hexagon on a grey, grainy street.
TRUTH = [(200, 180), (330, 150), (440, 190), (460, 300), (330, 340), (210, 310)]
MODEL = "det@1"
# Boxes a model proposes (confidence, box), out of order: Tab must go least confident first.
PROPOSED = [
    (0.8, [60, 250, 160, 120]),
    (0.3, [20, 20, 80, 60]),
    (0.95, [400, 260, 150, 120]),
    (0.5, [150, 40, 100, 80]),
    (0.6, [300, 60, 90, 90]),
]
CLIENT_BOX = [500, 30, 80, 60]  # the client's own box: no source, part of the annotation


def object_image() -> bytes:
    rng = np.random.default_rng(7)
    grain = rng.normal(0, 8, (480, 640, 3))
    img = np.clip(np.full((480, 640, 3), (120.0, 125.0, 130.0)) + grain, 0, 255).astype(np.uint8)
    cv2.fillPoly(img, [np.array(TRUTH, np.int32)], (40, 40, 200))  # BGR: red
    ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return bytes(data.tobytes())


def upload(api: Api, token: str, batch_id: str, data: bytes, pre: dict[str, Any] | None) -> None:
    headers = {"content-type": "image/jpeg"}
    if pre is not None:
        headers["x-pre-annotation"] = json.dumps(pre)
    response = api.call(
        "POST", "ingest", f"/v1/batches/{batch_id}/items", token, content=data, headers=headers
    )
    assert response.status_code == 201, response.text


async def submit(page: Page) -> None:
    """Ctrl+Enter, and the task gone (else the reason the page shows)."""
    before = await page.text_content("#submit-error")
    await page.keyboard.press("Control+Enter")
    await page.wait_for_function(
        """(before) => document.querySelector("#task-box").hidden
            || !["", before].includes(document.querySelector("#submit-error").textContent)""",
        arg=before,
    )
    assert await page.is_hidden("#task-box"), await page.text_content("#submit-error")


def submitted(api: Api, reviewer: str) -> list[dict[str, Any]]:
    """The shapes of the next submission, as the review desk gets them."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        unit = api.ok("POST", "review", "/v1/reviews/next", reviewer, params={"wait_s": 10})
        if unit:
            return list(unit["annotation"]["shapes"])
    raise TimeoutError("the submission never reached the desk")


def iou(points: list[list[float]], truth: list[tuple[int, int]]) -> float:
    a, b = Polygon(points).buffer(0), Polygon(truth)
    return float(a.intersection(b).area / a.union(b).area)


async def status_line(page: Page) -> str:
    return (await page.text_content("#status")) or ""


def is_segment(response: Response) -> bool:
    return response.url.endswith("/v1/assist/segment") and response.request.method == "POST"


async def ask(page: Page, point: tuple[float, float], alt: bool = False) -> None:
    """A click in the assist mode (Alt held: taking away), and its answer shown."""
    async with page.expect_response(is_segment):
        if alt:
            await page.keyboard.down("Alt")
        await page.mouse.click(*point)
        if alt:
            await page.keyboard.up("Alt")
    await page.wait_for_function(
        "() => !/asking/.test(document.querySelector('#status').textContent)"
    )


async def test_a_box_and_clicks_become_an_outline_accepted_and_submitted(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
) -> None:
    api = Api(services)
    ws = workspace(api, images=0, ontology=OUTLINE_ONTOLOGY)
    upload(api, ws.client.token, ws.batch_id, object_image(), None)
    page = await new_page(browser, f"{services.url('dispatch')}/ui/label.html", ws.annotators[0])
    asked: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: (
            asked.append(json.loads(r.post_data or "{}"))
            if r.url.endswith("/v1/assist/segment") and r.method == "POST"
            else None
        ),
    )
    await open_next_task(page)
    v = await view(page)

    # The car class, assist on, a box around the object: its outline comes back as a proposal.
    await page.keyboard.press("1")
    await page.keyboard.press("a")
    assert await page.get_attribute("#assist", "aria-pressed") == "true"
    async with page.expect_response(is_segment):
        await drag(page, screen(v, 180, 130), screen(v, 480, 360))
    await page.wait_for_function("() => window.aviaryCanvas.proposals.length === 1")
    line = await status_line(page)
    assert "grabcut" in line and re.search(r"\d+ ms", line), line
    assert await shapes(page) == []  # not part of the annotation until accepted

    # A click inside adds, an Alt+click outside the object (inside the box) takes away: each
    # asks again with the same box and every click so far.
    await ask(page, screen(v, 330, 250))
    await ask(page, screen(v, 190, 140), alt=True)
    assert await page.evaluate("() => window.aviaryCanvas.proposals.length") == 1
    assert len(asked) == 3
    assert asked[1]["box"] == asked[0]["box"] == asked[2]["box"]
    assert asked[0]["clicks"] == []
    assert [c["positive"] for c in asked[2]["clicks"]] == [True, False]
    assert all(a["item_id"] == asked[0]["item_id"] for a in asked)
    await shot(page, "label-assist")

    # Enter accepts: the outline is a polygon of the car class, made by GrabCut.
    await page.keyboard.press("Enter")
    drawn = await shapes(page)
    assert [(s["kind"], s["class_id"]) for s in drawn] == [("polygon", 1)]
    assert drawn[0]["source"] == {"by": "model", "model": "grabcut"}
    assert await page.evaluate("() => window.aviaryCanvas.proposals.length") == 0

    # A click that gives nothing to segment (one that only takes away): the service's message.
    await ask(page, screen(v, 600, 40), alt=True)
    await page.wait_for_selector("#status.error")
    message = await status_line(page)
    assert message and not message.startswith(("HTTP", "Assist did not answer")), message
    assert await page.evaluate("() => window.aviaryCanvas.proposals.length") == 0

    await submit(page)
    (shape,) = submitted(api, ws.reviewer)
    assert shape["kind"] == "polygon" and shape["source"]["model"] == "grabcut"
    assert shape["source"]["by"] == "model"
    assert iou(shape["points"], TRUTH) >= 0.8
    assert page.errors == []  # type: ignore[attr-defined]
    await page.close()
    api.http.close()


async def selected_proposal(page: Page) -> str:
    return (await page.text_content("#proposal-selected")) or ""


async def test_pre_labels_are_proposals_decided_with_the_keyboard(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
) -> None:
    api = Api(services)
    ws = workspace(api, images=0, ontology=BOX_ONTOLOGY)
    pre = {
        "shapes": [
            {"class_id": 1, "bbox": box, "source": {"by": "model", "model": MODEL, "confidence": c}}
            for c, box in PROPOSED
        ]
        + [{"class_id": 2, "bbox": CLIENT_BOX}]
    }
    upload(api, ws.client.token, ws.batch_id, jpeg(41), pre)
    page = await new_page(browser, f"{services.url('dispatch')}/ui/label.html", ws.annotators[0])
    await open_next_task(page)
    v = await view(page)

    # The model's boxes are proposals; the client's own box is part of the annotation.
    assert await page.evaluate("() => window.aviaryCanvas.proposals.length") == 5
    assert [s["bbox"] for s in await shapes(page)] == [CLIENT_BOX]
    assert "5 proposals" in await status_line(page)
    assert await page.is_visible("#proposals-box")

    # Tab goes least confident first; Shift+Tab back.
    await page.keyboard.press("Tab")
    assert (await selected_proposal(page)).startswith("car 0.30")
    await shot(page, "label-proposals")
    await page.keyboard.press("Tab")
    assert (await selected_proposal(page)).startswith("car 0.50")
    await page.keyboard.press("Shift+Tab")
    assert (await selected_proposal(page)).startswith("car 0.30")

    # Delete drops it (undo brings it back, undecided); the next one is selected.
    await page.keyboard.press("Delete")
    assert await page.evaluate("() => window.aviaryCanvas.proposals.length") == 4
    await page.keyboard.press("Control+z")
    assert await page.evaluate("() => window.aviaryCanvas.proposals.length") == 5
    await page.keyboard.press("Tab")
    await page.keyboard.press("Delete")
    assert (await selected_proposal(page)).startswith("car 0.50")

    # Enter accepts it as proposed; Shift+2 gives the next another class (accepted as edited).
    await page.keyboard.press("Enter")
    assert (await selected_proposal(page)).startswith("car 0.60")
    await page.keyboard.press("Shift+Digit2")
    # Dragging the right edge of the next (anywhere along it) accepts it as edited.
    await page.keyboard.press("Tab")
    assert (await selected_proposal(page)).startswith("car 0.80")
    edge = screen(v, 220, 340)
    await drag(page, edge, (edge[0] + 40 * v["scale"], edge[1]))
    drawn = await shapes(page)
    assert (
        len(drawn) == 4 and await page.evaluate("() => window.aviaryCanvas.proposals.length") == 1
    )
    edited = drawn[-1]
    assert edited["source"]["by"] == "model_edited"
    assert all(abs(a - b) <= 1.5 for a, b in zip(edited["bbox"], [60, 250, 200, 120], strict=True))

    # Submitting with one undecided: a warning first, then a second submit drops it.
    await page.keyboard.press("Control+Enter")
    assert "will be dropped" in ((await page.text_content("#submit-error")) or "")
    assert await page.is_visible("#task-box")
    await submit(page)

    got = {tuple(round(c) for c in s["bbox"]): s for s in submitted(api, ws.reviewer)}
    assert len(got) == 4
    assert got[tuple(CLIENT_BOX)].get("source") is None
    assert got[(150, 40, 100, 80)]["source"] == {"by": "model", "model": MODEL, "confidence": 0.5}
    reclassed = got[(300, 60, 90, 90)]
    assert reclassed["class_id"] == 2
    assert reclassed["source"] == {"by": "model_edited", "model": MODEL, "confidence": 0.6}
    (moved,) = [s for s in got.values() if s["source"] and s["source"]["confidence"] == 0.8]
    assert moved["source"]["by"] == "model_edited"
    assert (20, 20, 80, 60) not in got and (400, 260, 150, 120) not in got  # dropped
    assert page.errors == []  # type: ignore[attr-defined]
    await page.close()
    api.http.close()


MASK_ONTOLOGY = {
    "classes": [
        {"id": 1, "name": "car", "kind": "mask"},
        {"id": 2, "name": "truck", "kind": "mask"},
    ]
}
SEGMENTER = "seg@2"


def coco_string(mask: np.ndarray) -> dict[str, Any]:
    """A mask as pycocotools writes it: the compressed string."""
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(n) for n in rle["size"]], "counts": rle["counts"].decode()}


def coco_list(mask: np.ndarray) -> dict[str, Any]:
    """A mask as a list of run lengths (COCO's uncompressed form): column by column, zeros first."""
    flat = mask.flatten(order="F").astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    return {"size": list(mask.shape), "counts": np.diff(np.concatenate([[0], edges])).tolist()}


def decoded(rle: dict[str, Any]) -> np.ndarray:
    if isinstance(rle["counts"], list):
        rle = coco_mask.frPyObjects(rle, *rle["size"])
    else:
        rle = {"size": rle["size"], "counts": rle["counts"].encode()}
    return np.asarray(coco_mask.decode(rle), dtype=bool)


async def tint(page: Page, v: dict[str, float], x: float, y: float) -> float:
    """How much bluer than red the page shows around an image point, on average over a few
    pixels (the image is grey and grainy; the car class's tint is cyan)."""
    sx, sy = screen(v, x, y)
    png = await page.screenshot(clip={"x": sx - 4, "y": sy - 4, "width": 9, "height": 9})
    patch = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert patch is not None
    return float(patch[..., 0].mean() - patch[..., 2].mean())  # BGR


async def test_masks_decoded_drawn_reclassed_deleted_and_made_with_assist(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
) -> None:
    api = Api(services)
    ws = workspace(api, images=0, ontology=MASK_ONTOLOGY)
    rows, columns = np.mgrid[0:480, 0:640]
    disc = (columns - 80) ** 2 + (rows - 80) ** 2 <= 40**2
    band = (rows >= 380) & (rows < 440) & (columns >= 40) & (columns < 160)
    proposed = [(coco_string(disc), 0.55), (coco_list(band), 0.45)]
    pre = {
        "shapes": [
            {
                "kind": "mask",
                "class_id": 1,
                "rle": rle,
                "source": {"by": "model", "model": SEGMENTER, "confidence": c},
            }
            for rle, c in proposed
        ]
    }
    upload(api, ws.client.token, ws.batch_id, object_image(), pre)
    page = await new_page(browser, f"{services.url('dispatch')}/ui/label.html", ws.annotators[0])
    await open_next_task(page)
    v = await view(page)
    assert await page.evaluate("() => window.aviaryCanvas.proposals.length") == 2

    # The page's decoder reads both forms as pycocotools does.
    for (rle, _), truth in zip(proposed, (disc, band), strict=True):
        ones = await page.evaluate(
            """async (rle) => {
                const { decodeRle } = await import("/ui/common/rle.js");
                const mask = decodeRle(rle);
                return { set: [...mask.bits.keys()].filter((i) => mask.bits[i]), box: mask.box };
            }""",
            rle,
        )
        assert np.array_equal(decoded(rle), truth)
        assert ones["set"] == np.flatnonzero(truth).tolist()
        ys, xs = np.nonzero(truth)
        assert ones["box"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]

    # Drawn tinted inside, not outside; a click inside selects it; Shift+2 makes it a truck.
    assert await tint(page, v, 80, 80) > 15 and await tint(page, v, 80, 140) < 5
    await page.keyboard.press("v")
    await page.mouse.click(*screen(v, 80, 70))
    assert (await selected_proposal(page)).startswith("car 0.55")
    await page.keyboard.press("Shift+Digit2")
    (truck,) = await shapes(page)
    assert truck["class_id"] == 2 and truck["source"]["by"] == "model_edited"
    # The other: Tab, Delete.
    await page.keyboard.press("Tab")
    assert (await selected_proposal(page)).startswith("car 0.45")
    await page.keyboard.press("Delete")
    assert await page.evaluate("() => window.aviaryCanvas.proposals.length") == 0

    # A new mask with assist: its RLE is kept, its outline drawn.
    await page.keyboard.press("1")
    await page.keyboard.press("a")
    async with page.expect_response(is_segment):
        await drag(page, screen(v, 180, 130), screen(v, 480, 360))
    await page.wait_for_function("() => window.aviaryCanvas.proposals.length === 1")
    await page.keyboard.press("Enter")
    drawn = await shapes(page)
    assert [s["kind"] for s in drawn] == ["mask", "mask"]
    assert drawn[1]["source"] == {"by": "model", "model": "grabcut"}
    await shot(page, "label-masks")
    # Deleted (select mode, a click inside, Del), and back with undo.
    await page.keyboard.press("Escape")
    await page.mouse.click(*screen(v, 330, 250))
    assert await page.evaluate("() => window.aviaryCanvas.selected") == 1
    await page.keyboard.press("Delete")
    assert len(await shapes(page)) == 1
    await page.keyboard.press("Control+z")
    assert len(await shapes(page)) == 2

    await submit(page)
    got = {s["class_id"]: s for s in submitted(api, ws.reviewer)}
    assert np.array_equal(decoded(got[2]["rle"]), disc)
    assert got[2]["source"] == {"by": "model_edited", "model": SEGMENTER, "confidence": 0.55}
    assert got[1]["source"] == {"by": "model", "model": "grabcut", "confidence": None}
    truth = np.zeros((480, 640), np.uint8)
    cv2.fillPoly(truth, [np.array(TRUTH, np.int32)], 1)
    made = decoded(got[1]["rle"])
    assert (made & truth.astype(bool)).sum() / (made | truth.astype(bool)).sum() >= 0.8
    assert page.errors == []  # type: ignore[attr-defined]
    await page.close()
    api.http.close()
