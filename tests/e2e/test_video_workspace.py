"""The labeling workspace's video mode in a real browser, against the four services as
processes: an annotator draws a car once, lets the tracker follow it, corrects the last frame
by hand, checks the interpolated frames between, and submits; the delivery's MOT track is the
one drawn. A screenshot of the timeline goes to var/screenshots/label-video.png."""

from __future__ import annotations

import io
import time
import zipfile

import httpx
from playwright.async_api import Browser

from aviary_devkit.media.video import MovingBox, render
from aviary_devkit.processes import ServiceSet
from shared.domain.tracks import box_iou
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
from tests.integration.test_video_flow import (
    BOTTOM,
    TOP,
    cvat_for_video,
    follow,
    submit_tracks,
    upload_video,
    video_workspace,
)
from tests.support import Api

FRAMES = 30
CAR = MovingBox(40, 60, 70, 45, 4, 1.5, colour=(220, 50, 40))


def mot_rows(api: Api, token: str, batch_id: str) -> list[list[str]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready = [
            d
            for d in api.ok("GET", "export", "/v1/deliveries", token)
            if d["batch_id"] == batch_id and d["status"] == "ready"
        ]
        if ready:
            detail = api.ok("GET", "export", f"/v1/deliveries/{ready[0]['id']}", token)
            with zipfile.ZipFile(io.BytesIO(httpx.get(detail["download_url"]).content)) as zf:
                (gt,) = [n for n in zf.namelist() if n.endswith("gt/gt.txt")]
                return [line.split(",") for line in zf.read(gt).decode().splitlines()]
        time.sleep(0.5)
    raise TimeoutError("no delivery")


async def test_track_a_car_with_help_correct_it_and_deliver_in_the_browser(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
) -> None:
    api = Api(services)
    ws = video_workspace(api, video={"clip_frames": FRAMES, "clip_overlap": 0})
    video = render("mp4", frames=FRAMES, width=480, height=270, boxes=(CAR,))
    assert upload_video(api, ws.client, ws.batch_id, video, "car.mp4").status_code == 201
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)

    page = await new_page(browser, f"{services.url('dispatch')}/ui/label.html", ws.annotators[0])
    await open_next_task(page)
    await page.wait_for_selector("#timeline:not([hidden])")
    assert await page.evaluate("() => window.aviaryVideo.frame") == 0

    # Frame 1: the car, boxed by hand.
    v = await view(page)
    x, y, w, h = CAR.at(0)
    await drag(page, screen(v, x, y), screen(v, x + w, y + h))
    (drawn,) = await shapes(page)
    assert drawn["track_id"] and box_iou(tuple(drawn["bbox"]), CAR.at(0)) > 0.9

    # The tracker follows it through the clip; every proposal is close to where the car is.
    await page.select_option("#tracker", "kcf")
    await page.keyboard.press("v")
    await page.mouse.click(*screen(v, x + w / 2, y + h / 2))
    await page.keyboard.press("t")
    await page.wait_for_function(f"() => window.aviaryVideo.frame === {FRAMES - 1}")
    for frame in (5, 15, 25):
        await page.evaluate(f"() => window.aviaryVideo.show({frame})")
        (here,) = await shapes(page)
        assert box_iou(tuple(here["bbox"]), CAR.at(frame)) > 0.7, frame

    # The last frame, corrected by hand: its bottom-right corner dragged 12 px to the right.
    await page.evaluate(f"() => window.aviaryVideo.show({FRAMES - 1})")
    (last,) = await shapes(page)
    lx, ly, lw, lh = last["bbox"]
    await page.mouse.click(*screen(v, lx + lw / 2, ly + lh / 2))
    corner = screen(v, lx + lw, ly + lh)
    await drag(page, corner, (corner[0] + 12 * v["scale"], corner[1]))
    (fixed,) = await shapes(page)
    assert abs(fixed["bbox"][2] - (lw + 12)) <= 1.5
    assert "keyframe" in (await page.text_content("#tracks") or "")
    await shot(page, "label-video")

    await page.click("#submit")
    await page.wait_for_selector("#task-box[hidden]", state="attached")
    rows = mot_rows(api, ws.client.token, ws.batch_id)
    assert sorted(int(r[0]) for r in rows) == list(range(1, FRAMES + 1))
    assert {r[1] for r in rows} == {"1"}
    last_row = next(r for r in rows if int(r[0]) == FRAMES)
    assert abs(float(last_row[4]) - fixed["bbox"][2]) <= 0.02
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_clip_opens_on_the_tracks_a_client_imported_from_cvat(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
) -> None:
    """The client imports a CVAT for video file onto the uploaded video; the annotator's clip
    opens with its track (interpolated between CVAT's keyframes), and submitting it unchanged
    delivers that track."""
    api = Api(services)
    ws = video_workspace(api, video={"clip_frames": FRAMES, "clip_overlap": 0})
    video = render("mp4", frames=FRAMES, width=480, height=270, boxes=(CAR,))
    item = upload_video(api, ws.client, ws.batch_id, video, "car.mp4").json()
    imported = api.call(
        "POST",
        "ingest",
        f"/v1/batches/{ws.batch_id}/imports/annotations",
        ws.client.token,
        params={"format": "cvat", "item": item["id"]},
        content=cvat_for_video("car.mp4", frames=FRAMES, car=CAR),
    )
    assert imported.status_code == 202, imported.text
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)

    def imported_yet() -> bool:
        task = api.next_task(ws.annotators[0]).json()
        release = f"/v1/tasks/{task['id']}/release"
        api.call("POST", "dispatch", release, ws.annotators[0], json={"lease_id": task["lease_id"]})
        return bool(task.get("pre_tracks"))

    api.wait_for(imported_yet)
    page = await new_page(browser, f"{services.url('dispatch')}/ui/label.html", ws.annotators[0])
    await open_next_task(page)
    await page.wait_for_selector("#timeline:not([hidden])")
    for frame in (0, 11, FRAMES - 1):
        await page.evaluate(f"() => window.aviaryVideo.show({frame})")
        (here,) = await shapes(page)
        assert box_iou(tuple(here["bbox"]), CAR.at(frame)) > 0.98, frame
    await page.click("#submit")
    await page.wait_for_selector("#task-box[hidden]", state="attached")
    rows = mot_rows(api, ws.client.token, ws.batch_id)
    assert sorted(int(r[0]) for r in rows) == list(range(1, FRAMES + 1))
    middle = next(r for r in rows if int(r[0]) == 12)
    x, y, w, h = (float(v) for v in middle[2:6])
    assert box_iou((x, y, w, h), CAR.at(11)) > 0.98
    assert page.errors == []  # type: ignore[attr-defined]


async def test_the_review_desk_plays_the_clip_and_sends_back_one_track_over_some_frames(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
) -> None:
    api = Api(services)
    ws = video_workspace(
        api, review={"mode": "all"}, video={"clip_frames": FRAMES, "clip_overlap": 0}
    )
    video = render("mp4", frames=FRAMES, width=480, height=270, boxes=(CAR,))
    assert upload_video(api, ws.client, ws.batch_id, video, "car.mp4").status_code == 201
    task = api.next_task(ws.annotators[0]).json()
    keys = [
        {"frame": f, "shape": {"kind": "bbox", "class_id": 1, "bbox": list(CAR.at(f))}}
        for f in (0, FRAMES - 1)
    ]
    body = {
        "lease_id": task["lease_id"],
        "tracks": {"tracks": [{"track_id": "car", "keyframes": keys}]},
    }
    path = f"/v1/tasks/{task['id']}/submit"
    assert api.call("POST", "dispatch", path, ws.annotators[0], json=body).status_code == 200

    desk = await new_page(browser, f"{services.url('review')}/ui/review.html", ws.reviewer)
    await desk.click("#next-review")
    await desk.wait_for_selector("#timeline:not([hidden])", timeout=30_000)
    assert await desk.is_hidden("#correct")
    await desk.evaluate("() => window.aviaryPlayer.show(15)")
    (shown,) = await shapes(desk)
    assert shown["interpolated"] is True and box_iou(tuple(shown["bbox"]), CAR.at(15)) > 0.95
    await desk.keyboard.press("ArrowLeft")
    await desk.click("#mark-first")
    for _ in range(5):
        await desk.keyboard.press("ArrowRight")
    await desk.click("#mark-last")
    await desk.select_option("#reject-track", "car")
    await desk.fill("#comment", "The box lags behind the car here.")
    await shot(desk, "review-video")
    await desk.click("#reject")
    await desk.wait_for_selector("#decide[hidden]", state="attached")

    rework = api.next_task(ws.annotators[0], wait_s=10).json()
    (comment,) = rework["comments"]
    assert (comment["track_id"], comment["frames"]) == ("car", [14, 19])
    assert desk.errors == []  # type: ignore[attr-defined]


async def test_the_desk_settles_a_disputed_clip_with_one_annotators_tracks(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
) -> None:
    api = Api(services)
    ws = video_workspace(
        api,
        overlap=2,
        review={"mode": "consensus"},
        video={"clip_frames": FRAMES, "clip_overlap": 0},
    )
    video = render("mp4", frames=FRAMES, width=480, height=270, boxes=(TOP, BOTTOM))
    assert upload_video(api, ws.client, ws.batch_id, video, "two.mp4").status_code == 201
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    last = FRAMES - 1
    right = [follow("a", (TOP, 0, last)), follow("b", (BOTTOM, 0, last))]
    swapped = [
        follow("a", (TOP, 0, 14), (BOTTOM, 15, last)),
        follow("b", (BOTTOM, 0, 14), (TOP, 15, last)),
    ]
    for annotator, tracks in zip(ws.annotators, (right, swapped), strict=True):
        task = api.next_task(annotator).json()
        assert submit_tracks(api, annotator, task, tracks).status_code == 200

    desk = await new_page(browser, f"{services.url('review')}/ui/review.html", ws.reviewer)

    async def disputed() -> None:
        for _ in range(20):
            await desk.click("#next-review")
            try:
                await desk.wait_for_selector("#timeline:not([hidden])", timeout=3_000)
                return
            except TimeoutError:
                continue
        raise TimeoutError("the disputed clip never reached the desk")

    await disputed()
    assert "identity switches between versions: 4" in (await desk.text_content("#meta") or "")
    versions = desk.locator("#overlaps .version")
    assert await versions.count() == 2
    # The swapped version, played at frame 20: its track "a" is on the bottom object.
    await versions.filter(has_text="ann-1").get_by_text("Show", exact=True).click()
    await desk.evaluate("() => window.aviaryPlayer.show(20)")
    shown = {s["track_id"]: s["bbox"] for s in await shapes(desk)}
    assert box_iou(tuple(shown["a"]), BOTTOM.at(20)) > 0.95
    await versions.filter(has_text="ann-0").get_by_text("Settle with this version").click()
    await desk.wait_for_selector("#decide[hidden]", state="attached")

    rows = mot_rows(api, ws.client.token, ws.batch_id)
    by_track: dict[str, list[tuple[float, float, float, float]]] = {}
    for row in rows:
        x, y, w, h = (float(v) for v in row[2:6])
        by_track.setdefault(row[1], []).append((x, y, w, h))
    assert len(by_track) == 2 and all(len(boxes) == FRAMES for boxes in by_track.values())
    # Each delivered track stays on one object: the settled version, not the swapped one.
    for boxes in by_track.values():
        first, final = boxes[0], boxes[-1]
        start = TOP if box_iou(first, TOP.at(0)) > 0.9 else BOTTOM
        assert box_iou(final, start.at(last)) > 0.9
    assert desk.errors == []  # type: ignore[attr-defined]
