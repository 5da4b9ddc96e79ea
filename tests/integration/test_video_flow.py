"""Video through the four running services: project rules, uploads and their refusals, clip
tasks, tracks submitted, accepted and stitched into a MOT, CVAT and COCO delivery."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from aviary_devkit.media.video import MovingBox, render
from services.dispatch.onboarding import for_exam
from shared.domain.tracks import box_iou, plan_clips
from tests.integration.test_cli import run
from tests.integration.test_export_api import download, ready_delivery
from tests.support import Api, Tenant, Workspace, jpeg

FRAMES, CLIP, OVERLAP = 50, 20, 4
CAR = MovingBox(20, 40, 60, 40, 3, 1)
VIDEO_PROJECT: dict[str, Any] = {
    "media": "video",
    "video": {"clip_frames": CLIP, "clip_overlap": OVERLAP},
    "review": {"mode": "auto"},
    "delivery_formats": ["mot", "cvat", "coco"],
}


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def error_message(response: Any) -> str:
    return str(response.json()["error"]["message"])


def upload_video(api: Api, client: Tenant, batch_id: str, data: bytes, name: str) -> Any:
    return api.call(
        "POST",
        "ingest",
        f"/v1/batches/{batch_id}/videos",
        client.token,
        params={"file_name": name},
        content=data,
        headers={"content-type": "video/mp4"},
    )


def video_workspace(api: Api, **fields: Any) -> Workspace:
    client = api.client()
    vendor = api.org("vendor")
    annotators = [api.token(vendor, "annotator", f"ann-{i}") for i in range(2)]
    project = api.project(client, vendor, **{**VIDEO_PROJECT, **fields})
    batch = api.batch(client, project["id"])
    reviewer = api.token(vendor, "reviewer", "rev")
    return Workspace(client, vendor, annotators, reviewer, project, batch)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"delivery_formats": ["voc"]}, "invalid_formats"),
        (
            {"ontology": {"classes": [{"id": 1, "name": "scene", "kind": "classification"}]}},
            "invalid_ontology",
        ),
        ({"video": {"clip_frames": 20, "clip_overlap": 20}}, "invalid_request"),
    ],
)
def test_a_video_project_refuses_what_video_cannot_do(
    api: Api, fields: dict[str, Any], code: str
) -> None:
    client = api.client()
    vendor = api.org("vendor")
    body = {
        "name": "v",
        "ontology": {"classes": [{"id": 1, "name": "car"}]},
        "vendors": [{"vendor_id": vendor, "share": 1.0}],
        **VIDEO_PROJECT,
        **fields,
    }
    response = api.call("POST", "ingest", "/v1/projects", client.token, json=body)
    assert response.status_code == 422, response.text
    assert error_code(response) == code


def test_image_projects_keep_their_formats_and_media(api: Api) -> None:
    client = api.client()
    vendor = api.org("vendor")
    body = {
        "name": "i",
        "ontology": {"classes": [{"id": 1, "name": "car"}]},
        "vendors": [{"vendor_id": vendor, "share": 1.0}],
        "delivery_formats": ["mot"],
    }
    response = api.call("POST", "ingest", "/v1/projects", client.token, json=body)
    assert (response.status_code, error_code(response)) == (422, "invalid_formats")
    project = api.project(client, vendor)
    changed = {**body, "delivery_formats": ["coco"], **VIDEO_PROJECT}
    response = api.call(
        "PUT", "ingest", f"/v1/projects/{project['id']}", client.token, json=changed
    )
    assert (response.status_code, error_code(response)) == (409, "media_change")


def test_uploads_go_to_the_project_of_their_media_and_refusals_store_nothing(api: Api) -> None:
    ws = video_workspace(api)
    response = api.upload(ws.client, ws.batch_id, jpeg(3))
    assert (response.status_code, error_code(response)) == (415, "wrong_media")
    response = upload_video(api, ws.client, ws.batch_id, b"plainly not a video", "a.mp4")
    assert (response.status_code, error_code(response)) == (415, "not_a_video")
    webm = render("webm", frames=30)
    response = upload_video(api, ws.client, ws.batch_id, webm[: len(webm) * 9 // 10], "a.webm")
    assert (response.status_code, error_code(response)) == (422, "truncated_video")
    response = upload_video(api, ws.client, ws.batch_id, webm, "a.mp4")
    assert (response.status_code, error_code(response)) == (415, "media_mismatch")
    batch = api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token)
    assert batch["item_count"] == 0

    image_ws_project = api.project(ws.client, ws.vendor_id)
    image_batch = api.batch(ws.client, image_ws_project["id"])
    response = upload_video(api, ws.client, image_batch, render("mp4", frames=5), "a.mp4")
    assert (response.status_code, error_code(response)) == (415, "wrong_media")


def test_an_image_sequence_is_one_video_item(api: Api) -> None:
    ws = video_workspace(api)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for n in range(25):
            zf.writestr(f"cam/frame_{n}.jpg", jpeg(n % 3))  # three pictures, in turn
    response = api.call(
        "POST",
        "ingest",
        f"/v1/batches/{ws.batch_id}/videos",
        ws.client.token,
        params={"file_name": "cam.zip", "fps": 5},
        content=buffer.getvalue(),
        headers={"content-type": "application/zip"},
    )
    assert response.status_code == 201, response.text
    item = response.json()
    assert (item["media"], item["format"], item["frame_count"]) == ("video", "sequence", 25)
    assert item["duration_s"] == 5.0
    assert item["clip_count"] == len(plan_clips(25, CLIP, OVERLAP))
    task = api.next_task(ws.annotators[0]).json()
    assert task["video"]["fps"] == 5 and len(task["video"]["frames"]) == CLIP


def truth_track(start: int, stop: int) -> dict[str, Any]:
    """The car, keyframed at the clip's first and last frame (it moves in a straight line)."""
    return {
        "track_id": "car",
        "keyframes": [
            {"frame": f, "shape": {"kind": "bbox", "class_id": 1, "bbox": list(CAR.at(f))}}
            for f in (start, stop - 1)
        ],
    }


def submit_tracks(api: Api, token: str, task: dict[str, Any], tracks: list[Any]) -> Any:
    body = {"lease_id": task["lease_id"], "tracks": {"tracks": tracks}}
    return api.call("POST", "dispatch", f"/v1/tasks/{task['id']}/submit", token, json=body)


def track(api: Api, token: str, body: dict[str, Any]) -> Any:
    return api.call("POST", "assist", "/v1/assist/track", token, json=body)


def track_when_known(api: Api, token: str, body: dict[str, Any]) -> Any:
    """The tracker's answer once assist has heard of the item (404 until `item.ingested`)."""
    api.wait_for(lambda: track(api, token, body).status_code != 404, timeout=60)
    return track(api, token, body)


def test_a_video_goes_from_upload_to_a_stitched_delivery(api: Api) -> None:
    ws = video_workspace(api)
    video = render("mp4", frames=FRAMES, boxes=(CAR,))
    response = upload_video(api, ws.client, ws.batch_id, video, "drive.mp4")
    assert response.status_code == 201, response.text
    item = response.json()
    clips = plan_clips(FRAMES, CLIP, OVERLAP)
    assert (item["media"], item["frame_count"], item["clip_count"]) == ("video", 50, len(clips))
    again = upload_video(api, ws.client, ws.batch_id, video, "drive-again.mp4")
    assert again.status_code == 200 and again.json()["duplicate"]
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)

    annotator = ws.annotators[0]
    seen = []
    for n in range(len(clips)):
        task = api.next_task(annotator).json()
        clip = task["video"]["clip"]
        assert len(task["video"]["frames"]) == clip["stop"] - clip["start"]
        if n == 0:
            picture = api.http.get(task["video"]["frames"][0])
            assert picture.status_code == 200 and picture.content[:3] == b"\xff\xd8\xff"
            wrong = api.submit(annotator, task, [{"class_id": 1, "bbox": [1, 1, 5, 5]}])
            assert (wrong.status_code, error_code(wrong)) == (422, "tracks_required")
            body = {
                "item_id": task["item_id"],
                "frame": clip["start"],
                "bbox": list(CAR.at(clip["start"])),
                "frames": 10,
                "method": "kcf",
            }
            help_ = track_when_known(api, annotator, body)
            assert help_.status_code == 200, help_.text
            proposals = help_.json()
            assert len(proposals["boxes"]) == 10 and not proposals["lost"]
            assert proposals["frame"] == clip["start"] and proposals["elapsed_ms"] > 0
            for n, proposed in enumerate(proposals["boxes"], start=clip["start"] + 1):
                assert box_iou(tuple(proposed), CAR.at(n)) > 0.7
            outside = truth_track(clip["start"], clip["stop"] + 1)
            wrong = submit_tracks(api, annotator, task, [outside])
            assert (wrong.status_code, error_code(wrong)) == (422, "invalid_tracks")
            assert wrong.json()["error"]["details"][0]["code"] == "frame_outside_clip"
        response = submit_tracks(api, annotator, task, [truth_track(clip["start"], clip["stop"])])
        assert response.status_code == 200, response.text
        seen.append((clip["start"], clip["stop"]))
    assert sorted(seen) == [(c.start, c.stop) for c in clips]

    delivery = ready_delivery(api, ws)
    package = download(api, delivery)
    root = f"mot/{item['id']}"
    rows = [r.split(",") for r in package.read(f"{root}/gt/gt.txt").decode().splitlines()]
    assert {r[1] for r in rows} == {"1"}  # one car, stitched across the three clips
    assert sorted(int(r[0]) for r in rows) == list(range(1, FRAMES + 1))
    for row in rows:
        frame = int(row[0]) - 1
        assert [float(v) for v in row[2:6]] == pytest.approx(list(CAR.at(frame)), abs=0.5)
    manifest = json.loads(package.read("manifest.json"))
    assert manifest["counts"] == {"videos": 1, "tracks": 1, "boxes": FRAMES}
    assert {f["path"] for f in manifest["files"]} == set(package.namelist()) - {"manifest.json"}
    batch = api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token)
    assert batch["progress"]["accepted"] == 1


def test_a_reviewer_sees_the_clip_and_sends_back_one_track_over_some_frames(api: Api) -> None:
    ws = video_workspace(api, review={"mode": "all"}, video={"clip_frames": 30, "clip_overlap": 0})
    video = render("mp4", frames=30, boxes=(CAR,))
    assert upload_video(api, ws.client, ws.batch_id, video, "one-clip.mp4").status_code == 201
    annotator = ws.annotators[0]
    task = api.next_task(annotator).json()
    assert submit_tracks(api, annotator, task, [truth_track(0, 30)]).status_code == 200

    review = api.wait_for(
        lambda: (
            api.call("POST", "review", "/v1/reviews/next", ws.reviewer, params={"wait_s": 1}).json()
            or None
        )
    )
    assert review["clip"]["start"] == 0 and review["clip"]["stop"] == 30
    assert len(review["frames"]) == 30
    assert api.http.get(review["frames"][12]).content[:3] == b"\xff\xd8\xff"
    assert [t["track_id"] for t in review["tracks"]["tracks"]] == ["car"]
    path = f"/v1/reviews/{review['id']}"
    correction = api.call(
        "POST", "review", f"{path}/correct", ws.reviewer, json={"annotation": {"shapes": []}}
    )
    assert (correction.status_code, error_code(correction)) == (422, "wrong_media")
    reason = ws.project["reject_reasons"][0]
    for wrong in ({"track_id": "bus"}, {"frames": [20, 40]}, {"frames": [9, 3]}):
        body = {"reason": reason, "comment": "no", **wrong}
        refused = api.call("POST", "review", f"{path}/reject", ws.reviewer, json=body)
        assert (refused.status_code, error_code(refused)) == (422, "invalid_rejection"), wrong
    body = {
        "reason": reason,
        "comment": "The box slips off the car here.",
        "track_id": "car",
        "frames": [10, 19],
    }
    assert api.call("POST", "review", f"{path}/reject", ws.reviewer, json=body).status_code == 200

    rework = api.next_task(annotator, wait_s=10).json()
    assert rework["rework"] == 1 and rework["video"]["clip"]["index"] == 0
    (comment,) = rework["comments"]
    assert (comment["track_id"], comment["frames"]) == ("car", [10, 19])
    assert rework["previous_tracks"]["tracks"][0]["track_id"] == "car"


def test_a_reviewer_corrects_a_clips_tracks_and_the_annotator_gets_partial_credit(
    api: Api,
) -> None:
    ws = video_workspace(api, review={"mode": "all"}, video={"clip_frames": 30, "clip_overlap": 0})
    video = render("mp4", frames=30, boxes=(CAR,))
    upload = upload_video(api, ws.client, ws.batch_id, video, "fix.mp4")
    assert upload.status_code == 201, upload.text
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    annotator = ws.annotators[0]
    task = api.next_task(annotator).json()
    drifting = truth_track(0, 30)
    drifting["keyframes"][1]["shape"]["bbox"][0] += 20  # slides off the car towards the end
    assert submit_tracks(api, annotator, task, [drifting]).status_code == 200
    review = api.wait_for(
        lambda: (
            api.call("POST", "review", "/v1/reviews/next", ws.reviewer, params={"wait_s": 1}).json()
            or None
        )
    )
    path = f"/v1/reviews/{review['id']}/correct"
    both: dict[str, Any] = {"annotation": {"shapes": []}, "tracks": {"tracks": []}}
    refused = api.call("POST", "review", path, ws.reviewer, json=both)
    assert (refused.status_code, error_code(refused)) == (422, "invalid_request")
    fixed = api.ok(
        "POST", "review", path, ws.reviewer, json={"tracks": {"tracks": [truth_track(0, 30)]}}
    )
    assert fixed["status"] == "corrected" and 0.5 < fixed["credit"] < 0.95
    rows = download(api, ready_delivery(api, ws)).read(f"mot/{upload.json()['id']}/gt/gt.txt")
    last = rows.decode().splitlines()[-1].split(",")
    assert [float(v) for v in last[2:6]] == pytest.approx(list(CAR.at(29)), abs=0.5)


def test_tracker_help_refuses_what_it_cannot_follow(api: Api) -> None:
    ws = video_workspace(api, video={"clip_frames": 20, "clip_overlap": 0})
    video = render("mp4", frames=20, boxes=(CAR,))
    upload = upload_video(api, ws.client, ws.batch_id, video, "short.mp4")
    assert upload.status_code == 201, upload.text
    annotator = ws.annotators[0]
    start = {"item_id": upload.json()["id"], "frame": 0, "bbox": list(CAR.at(0))}
    assert track_when_known(api, annotator, start).status_code == 200

    for body, status, code in (
        ({"frame": 20}, 422, "frame_out_of_range"),
        ({"bbox": [10, 10, 0, 5]}, 422, "invalid_box"),
        ({"bbox": [900, 900, 30, 30]}, 422, "invalid_box"),  # nothing of it inside the frame
        ({"frames": 0}, 422, "invalid_request"),
        ({"frames": 301}, 422, "invalid_request"),
        ({"method": "magic"}, 422, "invalid_request"),
        ({"lease_id": "a dispatch lease"}, 422, "invalid_request"),  # unknown field
        ({"item_id": "no-such-item"}, 404, "not_found"),
    ):
        response = track(api, annotator, {**start, **body})
        assert response.status_code == status, (body, response.text)
        assert error_code(response) == code, body
    # The video's last frame has nothing after it to follow; past the end, proposals stop.
    last = track(api, annotator, {**start, "frame": 19}).json()
    assert last["boxes"] == [] and last["lost"] is False
    near_end = track(api, annotator, {**start, "frame": 15, "bbox": list(CAR.at(15))}).json()
    assert len(near_end["boxes"]) == 4 and near_end["lost"] is False
    # Someone of a vendor the project does not list is told the item does not exist.
    stranger = api.token(api.org("vendor"), "annotator", "stranger")
    assert track(api, stranger, start).status_code == 404
    vendor_admin = api.token(ws.vendor_id, "vendor_admin", "boss")
    assert track(api, vendor_admin, start).status_code == 403

    image_ws = api.project(ws.client, ws.vendor_id)
    image_batch = api.batch(ws.client, image_ws["id"])
    image = api.upload(ws.client, image_batch, jpeg(9))
    assert image.status_code == 201, image.text
    still = {"item_id": image.json()["id"], "frame": 0, "bbox": [1, 1, 10, 10]}
    refused = track_when_known(api, annotator, still)
    assert (refused.status_code, error_code(refused)) == (422, "not_a_video")


# ----- consensus and gold on clips ---------------------------------------------------------

TOP = MovingBox(10, 20, 40, 30, 6, 0)  # walks right along the top
BOTTOM = MovingBox(250, 150, 40, 30, -6, 0)  # walks left along the bottom


def follow(track_id: str, *legs: tuple[MovingBox, int, int]) -> dict[str, Any]:
    """A track keyframed at both ends of each leg (box, first frame, last frame): one leg
    follows one object; a second leg on another object is an identity switch."""
    keyframes = [
        {"frame": f, "shape": {"kind": "bbox", "class_id": 1, "bbox": list(box.at(f))}}
        for box, first, last in legs
        for f in (first, last)
    ]
    return {"track_id": track_id, "keyframes": keyframes}


def one_clip_video(api: Api, ws: Workspace, name: str, textured: bool = True) -> str:
    video = render("mp4", frames=30, boxes=(TOP, BOTTOM), textured=textured)
    response = upload_video(api, ws.client, ws.batch_id, video, name)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def consensus_workspace(api: Api) -> Workspace:
    return video_workspace(
        api,
        overlap=2,
        review={"mode": "consensus", "min_agreement": 0.8},
        video={"clip_frames": 30, "clip_overlap": 0},
    )


def mot_ids(api: Api, ws: Workspace, item_id: str) -> dict[str, list[int]]:
    """The delivery's MOT tracks: id -> the frames it is in."""
    package = download(api, ready_delivery(api, ws))
    rows = [r.split(",") for r in package.read(f"mot/{item_id}/gt/gt.txt").decode().splitlines()]
    tracks: dict[str, list[int]] = {}
    for row in rows:
        tracks.setdefault(row[1], []).append(int(row[0]))
    return tracks


def test_two_annotators_who_agree_on_a_clip_are_merged_and_delivered(api: Api) -> None:
    ws = consensus_workspace(api)
    item_id = one_clip_video(api, ws, "two.mp4")
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    first, second = ws.annotators
    task = api.next_task(first).json()
    assert task["video"]["clip"]["index"] == 0
    # One person cannot take both copies of the clip.
    assert api.next_task(first, wait_s=0.5).status_code == 204
    tracks = [follow("feet", (TOP, 0, 29)), follow("knee", (BOTTOM, 0, 29))]
    assert submit_tracks(api, first, task, tracks).status_code == 200
    task = api.next_task(second).json()
    nudged = [follow("1", (BOTTOM, 0, 29)), follow("2", (TOP, 0, 29))]
    nudged[0]["keyframes"][0]["shape"]["bbox"][0] += 2
    assert submit_tracks(api, second, task, nudged).status_code == 200

    tracks_delivered = mot_ids(api, ws, item_id)
    assert len(tracks_delivered) == 2
    assert all(frames == list(range(1, 31)) for frames in tracks_delivered.values())
    assert api.call("POST", "review", "/v1/reviews/next", ws.reviewer).status_code == 204


def test_swapped_identities_send_a_clip_to_a_reviewer_who_settles_it(api: Api) -> None:
    ws = consensus_workspace(api)
    item_id = one_clip_video(api, ws, "swap.mp4")
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    right = [follow("a", (TOP, 0, 29)), follow("b", (BOTTOM, 0, 29))]
    swapped = [
        follow("a", (TOP, 0, 14), (BOTTOM, 15, 29)),
        follow("b", (BOTTOM, 0, 14), (TOP, 15, 29)),
    ]
    for annotator, tracks in zip(ws.annotators, (right, swapped), strict=True):
        task = api.next_task(annotator).json()
        assert submit_tracks(api, annotator, task, tracks).status_code == 200

    review = api.wait_for(
        lambda: (
            api.call("POST", "review", "/v1/reviews/next", ws.reviewer, params={"wait_s": 1}).json()
            or None
        )
    )
    assert review["kind"] == "consensus" and review["identity_switches"] == 4
    assert review["clip"]["index"] == 0 and len(review["frames"]) == 30
    versions = {o["annotator_id"]: o["tracks"]["tracks"] for o in review["overlaps"]}
    assert sorted(len(v) for v in versions.values()) == [2, 2]
    path = f"/v1/reviews/{review['id']}"
    refused = api.call(
        "POST", "review", f"{path}/correct", ws.reviewer, json={"annotation": {"shapes": []}}
    )
    assert (refused.status_code, error_code(refused)) == (422, "wrong_media")
    outside = {"tracks": {"tracks": [follow("a", (TOP, 0, 30))]}}
    refused = api.call("POST", "review", f"{path}/correct", ws.reviewer, json=outside)
    assert (refused.status_code, error_code(refused)) == (422, "invalid_tracks")
    # The reviewer keeps the version that follows each object through.
    settled = {"tracks": {"tracks": right}}
    assert api.ok("POST", "review", f"{path}/correct", ws.reviewer, json=settled)["status"] == (
        "accepted"
    )
    delivered = mot_ids(api, ws, item_id)
    assert sorted(delivered) == ["1", "2"]

    def scored() -> dict[str, float] | None:
        query = {"project_id": ws.project["id"]}
        rows = api.ok("GET", "review", "/v1/scores", ws.reviewer, params=query)["rows"]
        found = {r["key"]: r["acceptance_rate"] for r in rows if r["accepted"] + r["corrected"]}
        return found if len(found) == 2 else None

    credit = api.wait_for(scored)
    # Full credit for the right version; the swapped one followed each object half the clip.
    assert credit["ann-0"] == 1.0 and credit["ann-1"] < 0.75


def test_a_gold_clip_scores_who_tracks_it(api: Api) -> None:
    ws = video_workspace(
        api, review={"mode": "auto", "gold_rate": 1.0}, video={"clip_frames": 30, "clip_overlap": 0}
    )
    first_item = one_clip_video(api, ws, "gold.mp4")
    annotator = ws.annotators[0]
    right = [follow("a", (TOP, 0, 29)), follow("b", (BOTTOM, 0, 29))]
    task = api.next_task(annotator).json()
    assert submit_tracks(api, annotator, task, right).status_code == 200

    gold_path = f"/v1/projects/{ws.project['id']}/gold"
    body = {"item_id": first_item, "clip": 0, "tracks": {"tracks": right}}
    shapes_only = {"item_id": first_item, "annotation": {"shapes": []}}
    refused = api.call("POST", "review", gold_path, ws.client.token, json=shapes_only)
    assert (refused.status_code, error_code(refused)) == (422, "wrong_media")

    def created() -> dict[str, Any] | None:
        response = api.call("POST", "review", gold_path, ws.client.token, json=body)
        return dict(response.json()) if response.status_code == 201 else None

    gold = api.wait_for(created)  # once review has recorded the clip's submission
    assert (gold["clip"], len(gold["tracks"]["tracks"])) == (0, 2)
    missing_clip = {**body, "clip": 3}
    response = api.call("POST", "review", gold_path, ws.client.token, json=missing_clip)
    assert response.status_code == 404

    # The next video brings a gold clip along: the first video's clip, which looks alike.
    one_clip_video(api, ws, "next.mp4", textured=False)
    tasks = [api.next_task(annotator, wait_s=10).json() for _ in range(2)]
    gold_task = next(t for t in tasks if t["item_id"] == first_item)
    assert gold_task["video"]["clip"] == task["video"]["clip"]
    assert set(gold_task) == set(task)
    half = [follow("a", (TOP, 0, 14), (BOTTOM, 15, 29)), follow("b", (BOTTOM, 0, 29))]
    for t in tasks:
        drawn = half if t is gold_task else right
        assert submit_tracks(api, annotator, t, drawn).status_code == 200

    def gold_scored() -> dict[str, Any] | None:
        rows = api.ok("GET", "review", "/v1/scores", annotator)["rows"]
        return rows[0] if rows and rows[0]["gold_accuracy"] is not None else None

    # Track "a" is on its object half the clip (0.5), "b" all of it (1.0): an F1 of 0.75.
    assert api.wait_for(gold_scored)["gold_accuracy"] == 0.75


# ----- image sequences sent frame by frame -----------------------------------------------


def put_frame(api: Api, ws: Workspace, sequence: str, index: int, data: bytes, **where: Any) -> Any:
    """PUT one frame into the workspace's batch (or `batch_id`, as `token`)."""
    batch_id, token = where.get("batch_id", ws.batch_id), where.get("token", ws.client.token)
    return api.call(
        "PUT",
        "ingest",
        f"/v1/batches/{batch_id}/sequences/{sequence}/frames/{index}",
        token,
        content=data,
        headers={"content-type": "image/jpeg"},
    )


def small_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 90, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


def close_sequence(api: Api, ws: Workspace, sequence: str, **body: Any) -> Any:
    path = f"/v1/batches/{ws.batch_id}/sequences/{sequence}/close"
    return api.call("POST", "ingest", path, ws.client.token, json=body)


def test_a_sequence_sent_frame_by_frame_becomes_one_video_item(api: Api) -> None:
    ws = video_workspace(api, video={"clip_frames": 10, "clip_overlap": 2})
    frames = [jpeg(n % 4) for n in range(24)]
    # In any order; a frame sent twice replaces the first.
    for index in [*range(23, 11, -1), *range(0, 10)]:
        response = put_frame(api, ws, "cam-1", index, frames[index])
        assert response.status_code == 200, response.text
        assert response.json()["index"] == index
    assert put_frame(api, ws, "cam-1", 3, frames[3]).status_code == 200
    for body, status, code in (
        (b"not a picture", 415, "not_an_image"),
        (frames[0][: len(frames[0]) // 2], 422, "corrupt_image"),
    ):
        response = put_frame(api, ws, "cam-1", 10, body)
        assert (response.status_code, error_code(response)) == (status, code)
    bad_id = put_frame(api, ws, "../escape", 0, frames[0])
    assert bad_id.status_code in (404, 422)

    missing = close_sequence(api, ws, "cam-1", frame_count=24, fps=6)
    assert (missing.status_code, error_code(missing)) == (422, "missing_frames")
    assert missing.json()["error"]["details"] == [10, 11]
    state = api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}/sequences/cam-1", ws.client.token)
    assert (state["status"], state["frames_received"], state["last_index"]) == ("open", 22, 23)
    for index in (10, 11):
        assert put_frame(api, ws, "cam-1", index, frames[index]).status_code == 200
    extra = close_sequence(api, ws, "cam-1", frame_count=20)
    assert (extra.status_code, error_code(extra)) == (422, "unexpected_frames")
    batch = api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token)
    assert batch["item_count"] == 0  # nothing half-made by the refusals

    closed = close_sequence(api, ws, "cam-1", frame_count=24, fps=6, file_name="cam-1")
    assert closed.status_code == 201, closed.text
    item = closed.json()
    assert (item["media"], item["format"], item["frame_count"]) == ("video", "sequence", 24)
    assert item["duration_s"] == 4.0
    assert item["clip_count"] == len(plan_clips(24, 10, 2))
    again = close_sequence(api, ws, "cam-1", frame_count=24, fps=6)
    assert again.status_code == 200 and again.json()["id"] == item["id"]
    # The same frames make the same item: closing again after a crash (its state lost
    # between making the item and recording it) gives that item, never a second one.
    for index, frame in enumerate(frames):
        assert put_frame(api, ws, "cam-1-retry", index, frame).status_code == 200
    retried = close_sequence(api, ws, "cam-1-retry", frame_count=24, fps=6, file_name="cam-1")
    assert retried.status_code == 200 and retried.json()["id"] == item["id"]
    late = put_frame(api, ws, "cam-1", 24, frames[0])
    assert (late.status_code, error_code(late)) == (409, "sequence_closed")
    state = api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}/sequences/cam-1", ws.client.token)
    assert (state["status"], state["item_id"], state["frames_received"]) == (
        "closed",
        item["id"],
        24,
    )

    task = api.next_task(ws.annotators[0]).json()
    assert task["item_id"] == item["id"] and len(task["video"]["frames"]) == 10
    shown = api.http.get(task["video"]["frames"][3]).content
    assert shown == frames[3]  # JPEG frames are kept byte for byte


def test_sequence_frames_go_only_to_a_video_projects_open_batch(api: Api) -> None:
    ws = video_workspace(api)
    image_project = api.project(ws.client, ws.vendor_id)
    image_batch = api.batch(ws.client, image_project["id"])
    refused = put_frame(api, ws, "cam", 0, jpeg(1), batch_id=image_batch)
    assert (refused.status_code, error_code(refused)) == (415, "wrong_media")
    outsider = api.client()
    assert put_frame(api, ws, "cam", 0, jpeg(1), token=outsider.token).status_code == 404
    assert put_frame(api, ws, "cam", 0, jpeg(1)).status_code == 200
    # Frames of another size than the first are refused when the sequence closes.
    assert put_frame(api, ws, "cam", 1, small_jpeg()).status_code == 200
    mixed = close_sequence(api, ws, "cam", frame_count=2)
    assert mixed.status_code == 422, mixed.text
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    sealed = put_frame(api, ws, "cam", 1, jpeg(1))
    assert (sealed.status_code, error_code(sealed)) == (409, "batch_sealed")


def cvat_for_video(
    source: str,
    size: int | None = None,
    label: str = "car",
    frames: int = FRAMES,
    car: MovingBox = CAR,
) -> bytes:
    """CVAT for video 1.1 as CVAT writes it: the car in every frame, keyframes at both ends."""
    boxes = []
    for f in range(frames):
        x, y, w, h = car.at(f)
        key = int(f in (0, frames - 1))
        boxes.append(
            f'<box frame="{f}" outside="0" occluded="0" keyframe="{key}" xtl="{x}" ytl="{y}"'
            f' xbr="{x + w}" ybr="{y + h}" z_order="0"/>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version><meta><task>'
        f"<name>drive task</name><size>{size or frames}</size><mode>interpolation</mode>"
        "<image_quality>70</image_quality>"
        "<original_size><width>320</width><height>240</height></original_size>"
        f"<source>{source}</source></task></meta>"
        f'<track id="3" label="{label}" source="manual">{"".join(boxes)}</track></annotations>'
    ).encode()


def test_a_cvat_for_video_file_gives_each_clip_task_its_part_of_the_tracks(
    api: Api, tmp_path: Path
) -> None:
    ws = video_workspace(api)
    video = render("mp4", frames=FRAMES, boxes=(CAR,))
    item = upload_video(api, ws.client, ws.batch_id, video, "drive.mp4").json()
    path = f"/v1/batches/{ws.batch_id}/imports/annotations"

    def send(body: bytes, **params: str) -> Any:
        return api.call(
            "POST",
            "ingest",
            path,
            ws.client.token,
            params={"format": "cvat", **params},
            content=body,
        )

    check = api.call(
        "POST",
        "ingest",
        f"/v1/projects/{ws.project['id']}/imports/check",
        ws.client.token,
        params={"format": "cvat"},
        content=cvat_for_video("drive.mp4", label="truck"),
    )
    assert check.status_code == 200 and check.json()["refused"] == [
        "label 'truck': the ontology has no class 'truck'"
        " (map it to a class, or leave it out with truck=)"
    ]
    stranger = send(cvat_for_video("other.mp4"))
    assert stranger.status_code == 422 and "say which with ?item=" in error_message(stranger)
    gold = send(cvat_for_video("drive.mp4"), **{"as": "gold"})
    assert (gold.status_code, error_code(gold)) == (422, "not_supported")
    longer = send(cvat_for_video("drive.mp4", size=FRAMES * 10), item=item["id"])
    assert longer.status_code == 202, longer.text  # frames taken as the video's own: fine
    done = send(cvat_for_video("drive.mp4"))  # by its source's name; replaces the one before
    assert done.status_code == 202 and done.json()["items"] == 1, done.text
    # `aviary import` sends it the same way, and says where a video file has to go.
    export = tmp_path / "annotations.xml"
    export.write_bytes(cvat_for_video("drive.mp4"))
    args = ["import", str(export), "--from", "cvat", "--project", ws.project["id"]]
    code, _ = run(api.services, ws.client.token, *args)
    assert code == 2  # a usage error: a video file goes onto a video already uploaded
    code, again = run(api.services, ws.client.token, *args, "--uploaded", "--batch", ws.batch_id)
    assert code == 0 and again["items"] == 1, again

    def clip_with_tracks() -> dict[str, Any] | None:
        task = api.next_task(ws.annotators[0]).json()
        release = f"/v1/tasks/{task['id']}/release"
        api.call("POST", "dispatch", release, ws.annotators[0], json={"lease_id": task["lease_id"]})
        return task if task.get("pre_tracks") else None

    task = api.wait_for(clip_with_tracks)
    clip = task["video"]["clip"]
    (track,) = task["pre_tracks"]["tracks"]
    frames = [k["frame"] for k in track["keyframes"]]
    assert frames[0] == clip["start"] and frames[-1] == clip["stop"] - 1
    for key in track["keyframes"]:
        assert box_iou(tuple(key["shape"]["bbox"]), CAR.at(key["frame"])) > 0.99
        assert key["shape"]["source"]["model"] == "import:cvat"


def test_a_training_clip_is_answered_track_by_track(api: Api) -> None:
    """Onboarding on video (docs/onboarding.md): a training clip's feedback says which track
    strayed and in which frames, and which object was missed."""
    ws = video_workspace(
        api,
        video={"clip_frames": 30, "clip_overlap": 0},
        onboarding={"training_tasks": 1, "exam_tasks": 0},
    )
    veteran, new = ws.annotators  # ann-0, ann-1
    admin = api.token(ws.vendor_id, "vendor_admin", "lead")
    path = f"/v1/projects/{ws.project['id']}/onboarding/ann-0"

    def let_in() -> bool:
        got = api.call("PUT", "review", path, admin, json={"reason": "seeds the gold"})
        return got.status_code == 200

    api.wait_for(let_in)
    right = [follow("a", (TOP, 0, 29)), follow("b", (BOTTOM, 0, 29))]
    gold_path = f"/v1/projects/{ws.project['id']}/gold"
    for n in range(8):  # until a gold clip falls in the training part (about half do)
        video = render("mp4", frames=30, fps=30 - n, boxes=(TOP, BOTTOM))  # new bytes each
        pushed = upload_video(api, ws.client, ws.batch_id, video, f"gold-{n}.mp4")
        assert pushed.status_code == 201, pushed.text
        item = pushed.json()["id"]
        task = api.wait_for(lambda: _leased(api, veteran))
        assert submit_tracks(api, veteran, task, right).status_code == 200
        body = {"item_id": item, "clip": 0, "tracks": {"tracks": right}}

        def created(body: dict[str, Any] = body) -> dict[str, Any] | None:
            got = api.call("POST", "review", gold_path, ws.client.token, json=body)
            return dict(got.json()) if got.status_code == 201 else None

        if not for_exam(api.wait_for(created)["id"]):
            break
    else:
        raise AssertionError("no gold clip fell in the training part")

    def leased() -> dict[str, Any] | None:  # once dispatch has heard of the gold clip
        path = f"/v1/projects/{ws.project['id']}/onboarding/next"
        got = api.call("POST", "dispatch", path, new)
        return dict(got.json()) if got.status_code == 200 else None

    training = api.wait_for(leased)
    assert training["stage"] == "training" and training["video"] is not None
    # Track "a" follows its object half the clip, then the other one; "b" is never drawn.
    strays = [follow("a", (TOP, 0, 14), (BOTTOM, 15, 29))]
    sent = submit_tracks(api, new, training, strays)
    assert sent.status_code == 200

    def told() -> dict[str, Any] | None:
        got = api.call("GET", "review", f"/v1/feedback/{sent.json()['submission_id']}", new)
        return dict(got.json()) if got.status_code == 200 else None

    feedback = api.wait_for(told)
    by_verdict = {s["verdict"]: s for s in feedback["shapes"]}
    assert sorted(by_verdict) == ["missed", "off"]
    # "a" is on each object half the clip: paired with one of them, it strays the other half.
    first, last = by_verdict["off"]["frames"]
    assert by_verdict["off"]["track_id"] == "a"
    assert (first, last) in {(0, 14), (15, 29)}, (first, last)
    assert by_verdict["missed"]["frames"] == [0, 29]
    assert 0 < feedback["score"] < 1


def _leased(api: Api, token: str) -> dict[str, Any] | None:
    got = api.next_task(token, wait_s=2)
    return dict(got.json()) if got.status_code == 200 else None
