"""Audio through the four running services: project rules, recordings and their refusals,
part tasks with the listening copy and peaks, transcripts checked on submit, review (auto,
consensus, rejection pointing at a segment, correction, gold) and the speech deliveries."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np
import pytest
import soundfile  # type: ignore[import-untyped]  # ships no type hints

from tests.integration.test_export_api import download, ready_delivery
from tests.support import Api, Workspace, jpeg

RATE = 22_050
AUDIO_PROJECT: dict[str, Any] = {
    "media": "audio",
    "ontology": {"classes": []},
    "audio": {"max_part_s": 10, "vad": False, "speakers": ["ana", "ben"], "languages": ["en"]},
    "review": {"mode": "auto"},
    "delivery_formats": ["nemo", "rttm", "vtt", "srt"],
    "instructions": "Write numbers as words; mark unclear words as [unclear].",
}


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def tones(seconds: float, seed: int = 0, channels: int = 1) -> np.ndarray:
    """Bursts of a voiced-like tone with quiet gaps: a recording of known length."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    voiced = (np.sin(2 * np.pi * 2.5 * t) > 0).astype(np.float32)
    signal = 0.3 * voiced * np.sin(2 * np.pi * (140 + 20 * seed) * t)
    signal = (signal + 0.003 * rng.standard_normal(t.size)).astype(np.float32)
    return np.stack([signal] * channels, axis=1) if channels > 1 else signal


def wav(seconds: float, seed: int = 0, fmt: str = "WAV", channels: int = 1) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, tones(seconds, seed, channels), RATE, format=fmt)
    return out.getvalue()


def upload_recording(api: Api, token: str, batch_id: str, data: bytes, name: str) -> Any:
    return api.call(
        "POST",
        "ingest",
        f"/v1/batches/{batch_id}/recordings",
        token,
        params={"file_name": name},
        content=data,
        headers={"content-type": "application/octet-stream"},
    )


def audio_workspace(api: Api, annotators: int = 2, **fields: Any) -> Workspace:
    client = api.client()
    vendor = api.org("vendor")
    people = [api.token(vendor, "annotator", f"ann-{i}") for i in range(annotators)]
    project = api.project(client, vendor, **{**AUDIO_PROJECT, **fields})
    batch = api.batch(client, project["id"])
    reviewer = api.token(vendor, "reviewer", "rev")
    return Workspace(client, vendor, people, reviewer, project, batch)


def segment(n: int, start: float, end: float, text: str, **more: Any) -> dict[str, Any]:
    return {
        "segment_id": f"s{n}",
        "start": start,
        "end": end,
        "text": text,
        "speaker": "ana",
        "language": "en",
        **more,
    }


def submit_transcript(api: Api, token: str, task: dict[str, Any], segments: list[Any]) -> Any:
    body = {"lease_id": task["lease_id"], "transcript": {"segments": segments}}
    return api.call("POST", "dispatch", f"/v1/tasks/{task['id']}/submit", token, json=body)


def part_words(task: dict[str, Any]) -> list[dict[str, Any]]:
    """Two segments inside the task's part, with text that says which part it is."""
    start, end = task["audio"]["start"], task["audio"]["end"]
    index = task["audio"]["part"]
    return [
        segment(1, start + 0.5, start + 2.0, f"part {index} begins here"),
        segment(2, start + 3.0, min(end, start + 5.0), "and then it goes on", speaker="ben"),
    ]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"delivery_formats": ["coco"]}, "invalid_formats"),
        ({"audio": {"max_part_s": 1}}, "invalid_request"),
        ({"audio": {"events": []}}, "invalid_request"),
    ],
)
def test_an_audio_project_refuses_what_audio_cannot_do(
    api: Api, fields: dict[str, Any], code: str
) -> None:
    client = api.client()
    vendor = api.org("vendor")
    body = {"name": "a", "vendors": [{"vendor_id": vendor, "share": 1.0}], **AUDIO_PROJECT}
    response = api.call("POST", "ingest", "/v1/projects", client.token, json={**body, **fields})
    assert response.status_code == 422, response.text
    assert error_code(response) == code


def test_image_projects_still_need_classes_and_their_formats(api: Api) -> None:
    client = api.client()
    vendor = api.org("vendor")
    body = {"name": "i", "vendors": [{"vendor_id": vendor, "share": 1.0}]}
    response = api.call("POST", "ingest", "/v1/projects", client.token, json=body)
    assert (response.status_code, error_code(response)) == (422, "invalid_ontology")
    with_classes = {**body, "ontology": {"classes": [{"id": 1, "name": "car"}]}}
    response = api.call(
        "POST",
        "ingest",
        "/v1/projects",
        client.token,
        json={**with_classes, "delivery_formats": ["vtt"]},
    )
    assert (response.status_code, error_code(response)) == (422, "invalid_formats")


def test_recordings_go_to_audio_projects_and_refusals_store_nothing(api: Api) -> None:
    ws = audio_workspace(api)
    token = ws.client.token
    response = api.upload(ws.client, ws.batch_id, jpeg(3))
    assert (response.status_code, error_code(response)) == (415, "wrong_media")
    response = upload_recording(api, token, ws.batch_id, b"plainly not audio", "a.wav")
    assert (response.status_code, error_code(response)) == (415, "not_audio")
    flac = wav(3, fmt="FLAC")
    response = upload_recording(api, token, ws.batch_id, flac, "a.wav")
    assert (response.status_code, error_code(response)) == (415, "media_mismatch")
    whole = wav(6)
    response = upload_recording(api, token, ws.batch_id, whole[: len(whole) // 2], "cut.wav")
    assert response.status_code == 422, response.text
    assert error_code(response) in ("truncated_audio", "corrupt_audio")
    batch = api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", token)
    assert batch["item_count"] == 0

    image_project = api.project(ws.client, ws.vendor_id)
    image_batch = api.batch(ws.client, image_project["id"])
    response = upload_recording(api, token, image_batch, wav(2), "a.wav")
    assert (response.status_code, error_code(response)) == (415, "wrong_media")


def test_a_recording_becomes_part_tasks_labeled_reviewed_and_delivered(api: Api) -> None:
    ws = audio_workspace(api)
    token = ws.client.token
    response = upload_recording(api, token, ws.batch_id, wav(25, channels=2), "street.wav")
    assert response.status_code == 201, response.text
    item = response.json()
    assert item["media"] == "audio" and item["clip_count"] == 3
    assert abs(item["duration_s"] - 25) < 0.05
    again = upload_recording(api, token, ws.batch_id, wav(25, channels=2), "again.wav")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", token)

    annotator = ws.annotators[0]
    seen_parts: list[int] = []
    for _ in range(3):
        task = api.next_task(annotator).json()
        audio = task["audio"]
        assert audio["parts"] == 3 and audio["settings"]["speakers"] == ["ana", "ben"]
        assert task["instructions"].startswith("Write numbers")
        assert task["pre_transcript"] == {"segments": []}  # detection is off in this project
        listening = api.http.get(audio["url"])
        assert listening.status_code == 200 and listening.content[:4] == b"OggS"
        # The heartbeat renews the recording's URL with the lease.
        beat = {"lease_id": task["lease_id"]}
        lease = api.ok(
            "POST", "dispatch", f"/v1/tasks/{task['id']}/heartbeat", annotator, json=beat
        )
        assert (
            "X-Amz-Expires=30&" in lease["audio_url"]
        )  # the lease's life (3 s in tests), at least 30 s
        assert api.http.get(lease["audio_url"]).content[:4] == b"OggS"
        peaks = api.http.get(audio["peaks_url"]).json()
        assert peaks["sample_rate"] == 16000 and abs(peaks["duration_s"] - 25) < 0.05
        start, end = audio["start"], audio["end"]
        assert 0 <= start < end <= 25.0 + 1e-6 and end - start <= 10.0 + 1e-6

        outside = [segment(1, start, end + 1.0, "too long")]
        refused = submit_transcript(api, annotator, task, outside)
        assert (refused.status_code, error_code(refused)) == (422, "invalid_transcript")
        assert refused.json()["error"]["details"][0]["code"] == "segment_outside_part"
        stranger = [segment(1, start + 0.1, start + 1, "who", speaker="carl")]
        refused = submit_transcript(api, annotator, task, stranger)
        assert refused.json()["error"]["details"][0]["code"] == "unknown_speaker"
        refused = api.submit(annotator, task, [{"class_id": 1, "bbox": [1, 1, 5, 5]}])
        assert (refused.status_code, error_code(refused)) == (422, "transcript_required")
        response = submit_transcript(api, annotator, task, part_words(task))
        assert response.status_code == 200, response.text
        seen_parts.append(audio["part"])
    assert sorted(seen_parts) == [0, 1, 2]

    package = download(api, ready_delivery(api, ws))
    names = set(package.namelist())
    item_id = item["id"]
    lines = [json.loads(x) for x in package.read("nemo/manifest.jsonl").decode().splitlines()]
    assert len(lines) == 6
    texts = [x["text"] for x in sorted(lines, key=lambda x: x["offset"])]
    assert texts[0] == "part 0 begins here" and texts[-2] == "part 2 begins here"
    assert {x["speaker"] for x in lines} == {"ana", "ben"} and {x["lang"] for x in lines} == {"en"}
    assert f"rttm/{item_id}.rttm" in names and f"vtt/{item_id}.vtt" in names
    rttm = package.read(f"rttm/{item_id}.rttm").decode().splitlines()
    assert len(rttm) == 6 and all(line.split()[0] == "SPEAKER" for line in rttm)
    assert package.read(f"vtt/{item_id}.vtt").decode().startswith("WEBVTT")
    assert "part 1 begins here" in package.read(f"srt/{item_id}.srt").decode()


def consensus_workspace(api: Api) -> Workspace:
    return audio_workspace(
        api,
        overlap=2,
        review={"mode": "consensus", "match_threshold": 0.5, "min_agreement": 0.8},
        audio={"max_part_s": 30, "vad": False, "languages": ["en"]},
    )


def next_review(api: Api, ws: Workspace) -> dict[str, Any]:
    return dict(
        api.wait_for(
            lambda: (
                api.call(
                    "POST", "review", "/v1/reviews/next", ws.reviewer, params={"wait_s": 1}
                ).json()
                or None
            )
        )
    )


def test_agreeing_transcripts_are_merged_and_disagreeing_ones_go_to_a_reviewer(api: Api) -> None:
    ws = consensus_workspace(api)
    token = ws.client.token
    agreed_id = upload_recording(api, token, ws.batch_id, wav(8, seed=1), "agree.wav").json()["id"]
    disputed_id = upload_recording(api, token, ws.batch_id, wav(8, seed=2), "differ.wav").json()[
        "id"
    ]
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", token)
    words = {
        (agreed_id, 0): "the robot passed under the sofa",
        (agreed_id, 1): "the robot passed under the sofa",
        (disputed_id, 0): "turn left at the next light",
        (disputed_id, 1): "she sells sea shells by the shore",
    }
    for n, annotator in enumerate(ws.annotators):
        for _ in range(2):
            task = api.next_task(annotator).json()
            jitter = 0.05 * n
            one = [segment(1, 1.0 + jitter, 4.0 - jitter, words[(task["item_id"], n)])]
            assert submit_transcript(api, annotator, task, one).status_code == 200
        assert api.next_task(annotator, wait_s=0.3).status_code == 204

    review = next_review(api, ws)
    assert review["kind"] == "consensus" and review["item_id"] == disputed_id
    assert review["audio"]["start"] == 0 and review["audio"]["end"] == pytest.approx(8, abs=0.05)
    assert review["annotation"] == {"shapes": []}
    diffs = [o["word_diff"] for o in review["overlaps"]]
    # Each version word by word against the agreed text: at least one of them differs.
    assert all(diffs) and any(op["op"] != "equal" for d in diffs for op in d)
    path = f"/v1/reviews/{review['id']}"
    refused = api.call(
        "POST", "review", f"{path}/correct", ws.reviewer, json={"annotation": {"shapes": []}}
    )
    assert (refused.status_code, error_code(refused)) == (422, "wrong_media")
    final = {"transcript": {"segments": [segment(1, 1.0, 4.0, "turn left at the next light")]}}
    assert api.ok("POST", "review", f"{path}/correct", ws.reviewer, json=final)["status"] == (
        "accepted"
    )

    package = download(api, ready_delivery(api, ws))
    lines = [json.loads(x) for x in package.read("nemo/manifest.jsonl").decode().splitlines()]
    by_item = {x["item_id"]: x["text"] for x in lines}
    assert by_item == {
        agreed_id: "the robot passed under the sofa",
        disputed_id: "turn left at the next light",
    }


def test_a_rejection_points_at_a_segment_and_the_rework_shows_it(api: Api) -> None:
    ws = audio_workspace(api, review={"mode": "all"})
    token = ws.client.token
    upload_recording(api, token, ws.batch_id, wav(6), "one.wav")
    annotator = ws.annotators[0]
    task = api.next_task(annotator).json()
    submitted = part_words(task)
    assert submit_transcript(api, annotator, task, submitted).status_code == 200
    review = next_review(api, ws)
    assert review["transcript"]["segments"][0]["text"] == "part 0 begins here"
    assert review["audio"]["url"] and review["frames"] is None
    path = f"/v1/reviews/{review['id']}/reject"
    reason = ws.project["reject_reasons"][0]
    wrong = {"reason": reason, "comment": "no such segment", "segment_id": "s9"}
    refused = api.call("POST", "review", path, ws.reviewer, json=wrong)
    assert (refused.status_code, error_code(refused)) == (422, "invalid_rejection")
    body = {"reason": reason, "comment": "the second speaker is ana", "segment_id": "s2"}
    api.ok("POST", "review", path, ws.reviewer, json=body)

    rework = api.wait_for(lambda: api.next_task(annotator, wait_s=1).json() or None)
    assert rework["rework"] == 1 and rework["comments"][0]["segment_id"] == "s2"
    assert rework["previous_transcript"]["segments"][1]["text"] == "and then it goes on"


def test_a_gold_part_scores_who_transcribes_it(api: Api) -> None:
    ws = audio_workspace(
        api,
        review={"mode": "auto", "gold_rate": 1.0},
        audio={"max_part_s": 30, "vad": False, "languages": ["en"]},
    )
    token = ws.client.token
    first = upload_recording(api, token, ws.batch_id, wav(6, seed=3), "gold.wav").json()["id"]
    annotator = ws.annotators[0]
    task = api.next_task(annotator).json()
    right = [segment(1, 1.0, 3.0, "the light turns green")]
    assert submit_transcript(api, annotator, task, right).status_code == 200

    gold_path = f"/v1/projects/{ws.project['id']}/gold"
    shapes_only = {"item_id": first, "annotation": {"shapes": []}}
    refused = api.call("POST", "review", gold_path, token, json=shapes_only)
    assert (refused.status_code, error_code(refused)) == (422, "wrong_media")
    body = {"item_id": first, "clip": 0, "transcript": {"segments": right}}

    def created() -> dict[str, Any] | None:
        response = api.call("POST", "review", gold_path, token, json=body)
        return dict(response.json()) if response.status_code == 201 else None

    gold = api.wait_for(created)
    assert gold["transcript"]["segments"][0]["text"] == "the light turns green"
    # A new recording brings the gold part along; the annotator cannot tell which is which.
    upload_recording(api, token, ws.batch_id, wav(6, seed=4), "new.wav")
    sloppy = [segment(1, 1.0, 3.0, "the night burns clean")]
    for _ in range(2):
        task = api.wait_for(lambda: api.next_task(annotator, wait_s=1).json() or None)
        assert submit_transcript(api, annotator, task, sloppy).status_code == 200

    def gold_scored() -> dict[str, Any] | None:
        query = {"project_id": ws.project["id"]}
        rows = api.ok("GET", "review", "/v1/scores", ws.reviewer, params=query)["rows"]
        return rows[0] if rows and rows[0]["gold_accuracy"] is not None else None

    # Three of the four words are wrong: the segment matches, its words mostly do not.
    assert api.wait_for(gold_scored)["gold_accuracy"] < 0.5


def test_the_audiofolder_delivery_cuts_a_clip_a_segment(api: Api) -> None:
    ws = audio_workspace(
        api, delivery_formats=["audiofolder", "nemo"], include_images=True, annotators=1
    )
    token = ws.client.token
    item_id = upload_recording(api, token, ws.batch_id, wav(6), "clips.wav").json()["id"]
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", token)
    annotator = ws.annotators[0]
    task = api.next_task(annotator).json()
    assert submit_transcript(api, annotator, task, part_words(task)).status_code == 200
    package = download(api, ready_delivery(api, ws))
    rows = list(csv.DictReader(io.StringIO(package.read("audiofolder/metadata.csv").decode())))
    assert [r["transcription"] for r in rows] == ["part 0 begins here", "and then it goes on"]
    for row in rows:
        samples, rate = soundfile.read(io.BytesIO(package.read(f"audiofolder/{row['file_name']}")))
        expected = float(row["end"]) - float(row["start"])
        assert rate == 16000 and abs(len(samples) / rate - expected) < 0.01
        assert row["item_id"] == item_id
