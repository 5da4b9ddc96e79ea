"""The synchronous SDK against the running services."""

from __future__ import annotations

from pathlib import Path

import pytest

from aviary.client import AviaryError, Client, verify_file
from aviary.client.config import Endpoints
from aviary_devkit.media.video import render
from aviary_devkit.processes import ServiceSet
from tests.support import Api, jpeg, workspace


def endpoints(services: ServiceSet) -> Endpoints:
    return Endpoints(*(services.url(n) for n in ("ingest", "dispatch", "review", "export")))


def test_sync_client_pushes_lists_and_downloads(
    services: ServiceSet, api: Api, tmp_path: Path
) -> None:
    ws = workspace(api, images=0, review={"mode": "auto"})
    with Client(ws.client.token, endpoints(services)) as aviary:
        batch = aviary.create_batch(ws.project["id"], "sdk")
        first = aviary.upload(batch.id, jpeg(900), "a.jpg")
        assert aviary.upload(batch.id, jpeg(900), "again.jpg").duplicate
        report = aviary.upload_files(batch.id, [("b.jpg", jpeg(901)), ("c.txt", b"nope")])
        assert (report.accepted, report.refused) == (1, 1)
        paths = []
        for i in range(3):
            path = tmp_path / f"p{i}.jpg"
            path.write_bytes(jpeg(910 + i))
            paths.append(path)
        outcomes = aviary.upload_paths(batch.id, paths, concurrency=3)
        assert all(not isinstance(o, AviaryError) for o in outcomes)
        items = aviary.items(batch.id, page_size=2)
        assert len(items) == 5 and first.id in {i.id for i in items}
        with pytest.raises(AviaryError) as raised:
            aviary.get_batch("bat_missing")
        assert raised.value.status == 404
        aviary.seal_batch(batch.id)
        for _ in range(5):
            task = api.next_task(ws.annotators[0]).json()
            assert (
                api.submit(
                    ws.annotators[0], task, [{"class_id": 1, "bbox": [1, 1, 5, 5]}]
                ).status_code
                == 200
            )
        delivery = api.wait_for(
            lambda: next(
                (d for d in aviary.list_deliveries(ws.project["id"]) if d.status == "ready"), None
            )
        )
        path = aviary.download_delivery(delivery.id, tmp_path / "out")
        assert verify_file(path, delivery.sha256)["counts"]["images"] == 5


def test_sync_client_uploads_videos_and_sequences_frame_by_frame(
    services: ServiceSet, api: Api
) -> None:
    client = api.client()
    vendor = api.org("vendor")
    project = api.project(
        client,
        vendor,
        media="video",
        video={"clip_frames": 10, "clip_overlap": 0},
        delivery_formats=["mot"],
    )
    batch_id = api.batch(client, project["id"])
    with Client(client.token, endpoints(services)) as aviary:
        video = aviary.upload_video(batch_id, render("mp4", frames=12), "v.mp4")
        assert (video.media, video.frame_count, video.clip_count) == ("video", 12, 2)
        frames = [jpeg(n % 2) for n in range(8)]
        sequence = aviary.upload_sequence(batch_id, "rig-7", frames, fps=4, concurrency=3)
        assert (sequence.format, sequence.frame_count, sequence.duration_s) == ("sequence", 8, 2.0)
        assert aviary.close_sequence(batch_id, "rig-7", 8, fps=4).duplicate
        with pytest.raises(AviaryError) as raised:
            aviary.close_sequence(batch_id, "rig-8", 3)
        assert (raised.value.status, raised.value.code) == (422, "missing_frames")
