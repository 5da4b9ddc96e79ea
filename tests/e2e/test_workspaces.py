"""The web workspaces in a real browser (Debian's chromium, headless, through Playwright)
against the four services as processes: an annotator draws a box and a polygon with the mouse
and submits; the review desk rejects it with a reason; the annotator sees the comment and
fixes the box; the desk accepts; the fixed box is in the COCO delivery.

Screenshots of every page go to var/screenshots/.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
import shutil
import time
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

from aviary.contracts.shapes import BoxShape, curve_points
from aviary_devkit.processes import ROOT, ServiceSet
from tests.support import Api, jpeg, review_next, workspace

pytestmark = pytest.mark.e2e

SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ONTOLOGY = {
    "classes": [
        {"id": 1, "name": "car", "kind": "bbox"},
        {"id": 2, "name": "drivable <b>area</b>", "kind": "polygon"},
    ]
}
INSTRUCTIONS = "Box every car. Outline the drivable area. <script>alert('x')</script>"
COMMENT = "The box misses the car's front: extend it to the right."


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    assert shutil.which(CHROMIUM), "chromium is missing: `make browser` installs it"
    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        await b.close()


async def new_page(browser: Browser, url: str, token: str) -> Page:
    page = await browser.new_page(viewport={"width": 1440, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))  # an XSS would show here
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(url)
    await page.fill("#token", token)
    await page.click("#login button[type=submit]")
    await page.wait_for_load_state("networkidle")
    return page


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


async def view(page: Page) -> dict[str, float]:
    """Where image pixels are on the screen: the canvas's place, zoom and offset."""
    return dict(
        await page.evaluate(
            """() => {
                const c = window.aviaryCanvas;
                const r = c.canvas.getBoundingClientRect();
                return {left: r.left, top: r.top, scale: c.scale, ox: c.offset[0], oy: c.offset[1]};
            }"""
        )
    )


def screen(v: dict[str, float], x: float, y: float) -> tuple[float, float]:
    return v["left"] + v["ox"] + x * v["scale"], v["top"] + v["oy"] + y * v["scale"]


def image_point(v: dict[str, float], sx: float, sy: float) -> tuple[float, float]:
    return (sx - v["left"] - v["ox"]) / v["scale"], (sy - v["top"] - v["oy"]) / v["scale"]


async def drag(page: Page, a: tuple[float, float], b: tuple[float, float]) -> None:
    await page.mouse.move(*a)
    await page.mouse.down()
    await page.mouse.move(*b, steps=8)
    await page.mouse.up()


async def shapes(page: Page) -> list[dict[str, Any]]:
    return list(await page.evaluate("() => window.aviaryCanvas.shapes"))


async def open_next_task(page: Page) -> None:
    """Wait for the page to open a task: after a submit it long-polls for the next one by
    itself; when that finds nothing, press "Next task" again."""
    deadline = time.monotonic() + 60
    while not await page.is_visible("#task-box"):
        assert time.monotonic() < deadline, "no task opened"
        if await page.is_visible("#next") and await page.is_enabled("#next"):
            # The page may start its own long-poll between the check and the click, which
            # disables the button: give up the click quickly and look again.
            with contextlib.suppress(PlaywrightTimeout):
                await page.click("#next", timeout=1_000)
        await asyncio.sleep(0.3)
    await page.wait_for_function("() => window.aviaryCanvas.image !== null")


async def open_next_review(page: Page) -> None:
    """One press of "Next review", right after the annotator's submit returned: the desk waits
    (long-polls) for the submission, which reaches the review service a moment later as an
    event, and opens it."""
    await page.click("#next-review")
    await page.wait_for_selector("#decide:not([hidden])", timeout=30_000)
    await page.wait_for_function("() => window.aviaryCanvas.image !== null")


def delivered_file(api: Api, client_token: str, batch_id: str, name: str) -> bytes:
    """A file of the batch's full delivery, once it is ready."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready = [
            d
            for d in api.ok("GET", "export", "/v1/deliveries", client_token)
            if d["batch_id"] == batch_id and d["kind"] == "full" and d["status"] == "ready"
        ]
        if ready:
            detail = api.ok("GET", "export", f"/v1/deliveries/{ready[0]['id']}", client_token)
            data = httpx.get(detail["download_url"]).content
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                return zf.read(name)
        time.sleep(0.5)
    raise TimeoutError("no delivery")


def delivered_coco(api: Api, client_token: str, batch_id: str) -> dict[str, Any]:
    return dict(json.loads(delivered_file(api, client_token, batch_id, "coco/annotations.json")))


async def test_draw_submit_reject_fix_accept_deliver_in_the_browser(
    services: ServiceSet, browser: Browser
) -> None:
    api = Api(services)
    ws = workspace(api, images=1, ontology=ONTOLOGY, instructions=INSTRUCTIONS)
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    label_url = f"{services.url('dispatch')}/ui/label.html"
    review_url = f"{services.url('review')}/ui/review.html"

    # The annotator draws a box and a polygon with the mouse, and submits.
    annotator = await new_page(browser, label_url, ws.annotators[0])
    await open_next_task(annotator)
    instructions = await annotator.text_content("#instructions")
    assert instructions == INSTRUCTIONS  # shown as text, never run
    v = await view(annotator)
    await annotator.keyboard.press("1")
    await drag(annotator, screen(v, 100, 120), screen(v, 260, 240))
    await annotator.keyboard.press("2")
    for x, y in ((300, 300), (600, 310), (560, 460), (320, 450)):
        await annotator.mouse.click(*screen(v, x, y))
    await annotator.keyboard.press("Enter")
    drawn = await shapes(annotator)
    assert [s["kind"] for s in drawn] == ["bbox", "polygon"]
    # Mouse events land on whole screen pixels: within a pixel and a half of the image.
    box = drawn[0]["bbox"]
    assert all(abs(a - b) <= 1.5 for a, b in zip(box, [100, 120, 160, 120], strict=True))
    await shot(annotator, "label-drawn")
    await annotator.click("#submit")
    await annotator.wait_for_selector("#task-box[hidden]", state="attached")

    # The review desk rejects it, with a reason from the project's list and a comment.
    reviewer = await new_page(browser, review_url, ws.reviewer)
    await open_next_review(reviewer)
    assert len(await shapes(reviewer)) == 2
    await reviewer.select_option("#reason", index=0)
    await reviewer.fill("#comment", COMMENT)
    await shot(reviewer, "review-desk")
    await reviewer.click("#reject")
    await reviewer.wait_for_selector("#decide[hidden]", state="attached")

    # The annotator gets the work back with the comment and the shapes, and fixes the box.
    await open_next_task(annotator)
    assert COMMENT in (await annotator.text_content("#comments") or "")
    back = await shapes(annotator)
    assert [s["kind"] for s in back] == ["bbox", "polygon"]
    v = await view(annotator)
    await annotator.keyboard.press("v")  # select mode
    await annotator.mouse.click(*screen(v, 180, 180))
    corner = screen(v, 260, 240)
    target = (corner[0] + 40 * v["scale"], corner[1])
    await drag(annotator, corner, target)
    fixed = (await shapes(annotator))[0]["bbox"]
    expected_right = image_point(v, *target)[0]
    assert abs(fixed[0] + fixed[2] - expected_right) <= 1.5
    await shot(annotator, "label-rework")
    await annotator.click("#submit")
    await annotator.wait_for_selector("#task-box[hidden]", state="attached")

    # The desk accepts the fix; the delivery holds the fixed box and the polygon.
    await open_next_review(reviewer)
    await reviewer.click("#accept")
    await reviewer.wait_for_selector("#decide[hidden]", state="attached")
    coco = delivered_coco(api, ws.client.token, ws.batch_id)
    by_category = {a["category_id"]: a for a in coco["annotations"]}
    assert [round(c) for c in by_category[1]["bbox"]] == [round(c) for c in fixed]
    assert len(by_category[2]["segmentation"][0]) == 8  # four points

    # The dashboard, as the client and as the operator.
    dashboard_url = f"{services.url('export')}/ui/dashboard.html"
    client = await new_page(browser, dashboard_url, ws.client.token)
    await client.wait_for_selector("#deliveries tbody tr")
    await client.wait_for_selector("#projects tbody tr")
    assert "ready" in (await client.text_content("#deliveries") or "")
    await shot(client, "dashboard-client")
    operator = await new_page(browser, dashboard_url, api.operator)
    await operator.wait_for_selector("#stages tbody tr")
    await operator.wait_for_selector("#quality tbody tr")
    # The annotator's own row (each vendor's ann-0 is a person of their own): submitted,
    # accepted after rework.
    scored = operator.locator(f"#annotator-scores tbody td[title='ann-0 · {ws.vendor_id}']")
    await scored.wait_for()
    await shot(operator, "dashboard-operator")

    for page in (annotator, reviewer, client, operator):
        assert page.errors == [], page.errors  # type: ignore[attr-defined]
        await page.close()
    api.http.close()


RICH_ONTOLOGY = {
    "classes": [
        {
            "id": 1,
            "name": "car",
            "kind": "bbox",
            "attributes": [{"name": "occluded", "type": "boolean", "required": True}],
        },
        {"id": 2, "name": "lane line", "kind": "polyline"},
        {
            "id": 3,
            "name": "pedestrian",
            "kind": "keypoints",
            "skeleton": {"keypoints": ["head", "hip", "foot"], "edges": [[1, 2], [2, 3]]},
        },
        {"id": 4, "name": "night", "kind": "classification"},
    ]
}


async def test_points_are_added_and_taken_out_and_keypoints_hidden(
    services: ServiceSet, browser: Browser
) -> None:
    api = Api(services)
    ws = workspace(api, images=1, ontology=RICH_ONTOLOGY)
    page = await new_page(browser, f"{services.url('dispatch')}/ui/label.html", ws.annotators[0])
    await open_next_task(page)
    v = await view(page)
    # A lane line of three points; a pedestrian whose foot is hidden behind a car (Shift).
    await page.keyboard.press("2")
    for x, y in ((200, 470), (260, 300), (300, 200)):
        await page.mouse.click(*screen(v, x, y))
    await page.keyboard.press("Enter")
    await page.keyboard.press("3")
    await page.mouse.click(*screen(v, 500, 200))
    await page.mouse.click(*screen(v, 505, 260))
    await page.keyboard.down("Shift")
    await page.mouse.click(*screen(v, 510, 330))
    await page.keyboard.up("Shift")
    assert [k[2] for k in (await shapes(page))[1]["keypoints"]] == [2, 2, 1]

    # Select mode: a double-click on the line's first edge adds a point there.
    await page.keyboard.press("v")
    await page.mouse.click(*screen(v, 260, 300))  # on a point: selects the line
    await page.mouse.dblclick(*screen(v, 230, 385))  # halfway along the first edge
    line = (await shapes(page))[0]["points"]
    assert len(line) == 4 and abs(line[1][0] - 230) < 3 and abs(line[1][1] - 385) < 3
    # Alt+click on a point takes it out; a line keeps two at least.
    for _ in range(3):  # the last point each time: the third is refused
        last = (await shapes(page))[0]["points"][-1]
        await page.keyboard.down("Alt")
        await page.mouse.click(*screen(v, *last))
        await page.keyboard.up("Alt")
    assert len((await shapes(page))[0]["points"]) == 2
    await page.keyboard.press("Control+z")
    assert len((await shapes(page))[0]["points"]) == 3

    # Alt+click on the head hides it; the hidden foot stays where it was put.
    await page.mouse.click(*screen(v, 505, 260))
    await page.keyboard.down("Alt")
    await page.mouse.click(*screen(v, 500, 200))
    await page.keyboard.up("Alt")
    keypoints = (await shapes(page))[1]["keypoints"]
    assert [k[2] for k in keypoints] == [1, 2, 1]
    await shot(page, "label-points")
    await page.click("#submit")
    await page.wait_for_selector("#task-box[hidden]", state="attached")
    submitted = review_next(api, ws.reviewer)
    kinds = {s["kind"]: s for s in submitted["annotation"]["shapes"]}
    assert [k[2] for k in kinds["keypoints"]["keypoints"]] == [1, 2, 1]
    assert len(kinds["polyline"]["points"]) == 3
    assert page.errors == [], page.errors  # type: ignore[attr-defined]
    await page.close()
    api.http.close()


async def test_a_box_turns_its_handles_turn_with_it_and_a_lane_becomes_a_curve(
    services: ServiceSet, browser: Browser
) -> None:
    api = Api(services)
    ontology = {
        "classes": [
            {"id": 1, "name": "car", "colour": "#123456"},
            {"id": 2, "name": "lane", "kind": "polyline"},
        ]
    }
    ws = workspace(api, images=1, ontology=ontology)
    page = await new_page(browser, f"{services.url('dispatch')}/ui/label.html", ws.annotators[0])
    await open_next_task(page)
    v = await view(page)
    await page.keyboard.press("1")
    await drag(page, screen(v, 200, 150), screen(v, 360, 230))  # 160 x 80, centre (280, 190)
    await page.keyboard.press("v")
    await page.mouse.click(*screen(v, 280, 190))
    for _ in range(6):
        await page.keyboard.press("]")  # 6 x 5° clockwise
    await page.keyboard.press("Shift+BracketLeft")  # 1° back
    box = (await shapes(page))[0]
    assert box["rotation"] == 29
    swatch = page.locator("#classes .swatch").first  # the class's own colour, not the palette's
    assert await swatch.evaluate("(s) => s.style.background") == "rgb(18, 52, 86)"
    # The right edge's middle, turned with the box: dragged 20 px further out along the box's
    # own x axis, it widens the box to 180 and keeps the left edge where it was.
    angle = math.radians(29)
    right = (280 + 80 * math.cos(angle), 190 + 80 * math.sin(angle))
    out = (right[0] + 20 * math.cos(angle), right[1] + 20 * math.sin(angle))
    await drag(page, screen(v, *right), screen(v, *out))
    x, y, w, h = (await shapes(page))[0]["bbox"]
    assert (w, h) == (pytest.approx(180, abs=1.5), pytest.approx(80, abs=0.5))
    left = BoxShape(class_id=1, bbox=(x, y, w, h), rotation=29).corners()[0]
    assert left == pytest.approx(
        BoxShape(class_id=1, bbox=(200, 150, 160, 80), rotation=29).corners()[0], abs=1.5
    )

    await page.keyboard.press("2")
    lane = ((100, 450), (250, 320), (420, 300))
    for point in lane:
        await page.mouse.click(*screen(v, *point))
    await page.keyboard.press("Enter")
    await page.keyboard.press("v")
    await page.mouse.click(*screen(v, *lane[1]))
    await page.keyboard.press("c")
    line = (await shapes(page))[1]
    assert line["smooth"] is True
    # The page draws the curve the formats are given: the same points as the contracts'.
    drawn = await page.evaluate(
        "async (points) => (await import('/ui/common/geometry.js')).curvePoints(points)",
        line["points"],
    )
    expected = curve_points(tuple(tuple(p) for p in line["points"]))
    assert [c for p in drawn for c in p] == pytest.approx([c for p in expected for c in p])
    await shot(page, "label-turned-curve")
    await page.click("#submit")
    await page.wait_for_selector("#task-box[hidden]", state="attached")
    review = review_next(api, ws.reviewer)
    turned, curve = review["annotation"]["shapes"]
    assert turned["rotation"] == 29 and curve["smooth"] is True
    assert page.errors == [], page.errors  # type: ignore[attr-defined]
    await page.close()
    api.http.close()


async def test_the_previous_pictures_shapes_are_copied_within_a_batch_only(
    services: ServiceSet, browser: Browser
) -> None:
    api = Api(services)
    ontology = {
        "classes": [{"id": 1, "name": "car"}, {"id": 2, "name": "lane", "kind": "polyline"}]
    }
    ws = workspace(api, images=2, ontology=ontology, review={"mode": "auto"})
    page = await new_page(browser, f"{services.url('dispatch')}/ui/label.html", ws.annotators[0])
    await open_next_task(page)
    assert await page.is_hidden("#copy-previous")  # nothing submitted in this batch yet
    v = await view(page)
    await page.keyboard.press("1")
    await drag(page, screen(v, 100, 100), screen(v, 200, 160))
    await page.keyboard.press("v")
    await page.mouse.click(*screen(v, 150, 130))
    await page.keyboard.press("]")
    first = await page.evaluate("() => window.aviaryCanvas.shapes[0].bbox")
    await page.click("#submit")
    await page.locator("#copy-previous").wait_for()  # the next picture of the batch opened
    await page.keyboard.press("p")
    [copied] = await shapes(page)
    assert copied["bbox"] == first and copied["rotation"] == 5
    await page.keyboard.press("Control+z")
    assert await shapes(page) == []
    await page.click("#copy-previous")
    await shot(page, "label-copied")
    await page.click("#submit")
    submitted = api.wait_for(
        lambda: (
            (b := api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token))
            and b["progress"]["accepted"] == 2
        )
    )
    assert submitted
    # Another batch of the project: nothing to copy there.
    other = api.batch(ws.client, ws.project["id"])
    assert api.upload(ws.client, other, jpeg(4242)).status_code == 201
    await open_next_task(page)
    assert await page.is_hidden("#copy-previous")
    assert page.errors == [], page.errors  # type: ignore[attr-defined]
    await page.close()
    api.http.close()


async def test_the_desk_shows_the_instructions_whole_image_classes_and_attributes(
    services: ServiceSet, browser: Browser
) -> None:
    api = Api(services)
    guide = "Box every car; say whether it is occluded. <b>not bold</b>"
    ws = workspace(api, images=1, ontology=RICH_ONTOLOGY, instructions=guide)
    task = api.next_task(ws.annotators[0]).json()
    car = {
        "kind": "bbox",
        "class_id": 1,
        "bbox": [10, 10, 50, 40],
        "attributes": {"occluded": True},
    }
    night = {"kind": "classification", "class_id": 4}
    assert api.submit(ws.annotators[0], task, [car, night]).status_code == 200
    page = await new_page(browser, f"{services.url('review')}/ui/review.html", ws.reviewer)
    await open_next_review(page)
    assert await page.text_content("#whole-image") == "night"
    assert await page.text_content("#shape-list") == "car (bbox)occluded: true"
    await page.click("#instructions-box summary")
    assert await page.text_content("#instructions") == guide  # as text, never markup
    await page.click("#shape-list li")
    assert await page.evaluate("() => window.aviaryCanvas.selected") == 0
    await shot(page, "review-details")
    # Kept as gold, as the desk shows it: the item's known answer from now on.
    await page.click("#keep-gold")
    await page.get_by_text("Kept as gold").wait_for()
    [gold] = api.ok("GET", "review", f"/v1/projects/{ws.project['id']}/gold", ws.client.token)
    assert gold["item_id"] == task["item_id"] and gold["created_by"] == "rev"
    assert [s["kind"] for s in gold["annotation"]["shapes"]] == ["bbox", "classification"]
    assert page.errors == [], page.errors  # type: ignore[attr-defined]
    await page.close()
    api.http.close()


async def test_the_desk_shows_the_authors_gold_record_beside_the_known_answer(
    services: ServiceSet, browser: Browser
) -> None:
    api = Api(services)
    ws = workspace(api, images=1, review={"mode": "all", "gold_rate": 1.0})
    annotator = ws.annotators[0]
    car = {"kind": "bbox", "class_id": 1, "bbox": [10, 10, 50, 40]}
    first = api.next_task(annotator).json()
    assert api.submit(annotator, first, [car]).status_code == 200
    review = review_next(api, ws.reviewer)
    api.ok("POST", "review", f"/v1/reviews/{review['id']}/accept", ws.reviewer)
    gold_path = f"/v1/projects/{ws.project['id']}/gold"
    body = {"item_id": first["item_id"], "annotation": {"shapes": [car]}}
    api.ok("POST", "review", gold_path, ws.client.token, json=body)
    assert api.upload(ws.client, ws.batch_id, jpeg(7001)).status_code == 201
    tasks = [api.next_task(annotator, wait_s=10).json() for _ in range(2)]
    for task in tasks:
        gold = task["item_id"] == first["item_id"]
        shifted = {**car, "bbox": [40, 30, 50, 40]} if gold else car
        assert api.submit(annotator, task, [shifted]).status_code == 200
    api.wait_for(lambda: api.ok("GET", "review", f"{gold_path}/results", ws.reviewer))

    page = await new_page(browser, f"{services.url('review')}/ui/review.html", ws.reviewer)
    await open_next_review(page)
    await page.locator("#gold-box").wait_for()
    await page.locator("#who", has_text="rev · org").wait_for()  # the vendor's name, not its id
    assert ws.vendor_id in (await page.get_attribute("#who", "title") or "")
    summary = await page.text_content("#gold-summary")
    assert summary is not None and summary.startswith("ann-0's last 1 gold tasks")
    await page.click("#gold-results button")
    sides = page.locator("#gold-side canvas")
    await sides.nth(1).wait_for()
    assert [await sides.nth(i).get_attribute("aria-label") for i in range(2)] == [
        await page.locator("#gold-side .muted").first.text_content(),
        "the known answer",
    ]
    drawn = await page.evaluate(
        "() => [...document.querySelectorAll('#gold-side canvas')].map((c) => c.width > 0)"
    )
    assert drawn == [True, True]
    await shot(page, "review-gold")
    assert page.errors == [], page.errors  # type: ignore[attr-defined]
    await page.close()
    api.http.close()


async def test_every_geometry_kind_attributes_undo_and_errors_next_to_the_shape(
    services: ServiceSet, browser: Browser
) -> None:
    api = Api(services)
    ws = workspace(api, images=1, ontology=RICH_ONTOLOGY)
    page = await new_page(browser, f"{services.url('dispatch')}/ui/label.html", ws.annotators[0])
    await open_next_task(page)
    v = await view(page)

    # A box (whose class requires an attribute), then undo and redo it.
    await page.keyboard.press("1")
    await drag(page, screen(v, 40, 40), screen(v, 140, 120))
    await page.keyboard.press("Control+z")
    assert await shapes(page) == []
    await page.keyboard.press("Control+y")
    assert [s["kind"] for s in await shapes(page)] == ["bbox"]
    # A lane line: clicks, finished with Enter.
    await page.keyboard.press("2")
    for x, y in ((200, 470), (260, 300), (300, 200)):
        await page.mouse.click(*screen(v, x, y))
    await page.keyboard.press("Enter")
    # A pedestrian: one click per skeleton keypoint; the shape completes itself.
    await page.keyboard.press("3")
    for x, y in ((500, 200), (505, 260), (510, 330)):
        await page.mouse.click(*screen(v, x, y))
    drawn = await shapes(page)
    assert [s["kind"] for s in drawn] == ["bbox", "polyline", "keypoints"]
    assert [k[2] for k in drawn[2]["keypoints"]] == [2, 2, 2]
    # The whole image: night.
    await page.check("#image-classes input[value='4']")

    # Submitting without the box's required attribute: refused, the error on that shape.
    await page.click("#submit")
    await page.wait_for_function("() => window.aviaryCanvas.errors.size > 0")
    assert "occluded" in (await page.text_content("#submit-error") or "")
    errors = await page.evaluate("() => [...window.aviaryCanvas.errors.keys()]")
    assert errors == [0]
    await shot(page, "label-error")

    # Select the box, set the attribute, submit: accepted.
    await page.keyboard.press("v")
    await page.mouse.click(*screen(v, 90, 80))
    await page.check("#attr-occluded")
    await page.click("#submit")
    await page.wait_for_selector("#task-box[hidden]", state="attached")
    sub_ok = api.wait_for(
        lambda: api.ok(
            "GET", "dispatch", f"/v1/projects/{ws.project['id']}/task-stats", ws.client.token
        )["by_vendor"]
    )
    assert any(states.get("submitted") == 1 for states in sub_ok.values())
    assert page.errors == []  # type: ignore[attr-defined]
    await page.close()
    api.http.close()
