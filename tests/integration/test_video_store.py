"""A video's frames into object storage (services/ingest/video_store.py), on SeaweedFS."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from aviary.contracts.privacy import RedactionSettings
from aviary_devkit.media.video import encode, render
from services.ingest.domain import object_key
from services.ingest.redaction import Redaction
from services.ingest.video import Sampling, VideoLimits
from services.ingest.video_store import ClipPlan, store_video, video_prefix
from shared.errors import AppError
from shared.settings import Settings
from shared.store.storage import ObjectStorage
from shared.vision.redaction import Detector, Region
from tests.unit.test_redaction import decode, face, jpeg, street

pytestmark = pytest.mark.integration


@pytest.fixture
async def storage(settings: Settings) -> ObjectStorage:
    store = ObjectStorage(settings)
    await store.ensure_bucket(settings.images_bucket)
    return store


def saved(tmp_path: Path, data: bytes, name: str = "clip.mp4") -> tuple[Path, str]:
    path = tmp_path / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


async def test_frames_sheets_and_manifest_are_stored(
    tmp_path: Path, settings: Settings, storage: ObjectStorage
) -> None:
    path, sha = saved(tmp_path, render("mp4", frames=25, fps=25))
    bucket = settings.images_bucket
    stored = await store_video(
        storage, bucket, "org_a", path, "clip.mp4", sha, VideoLimits(), Sampling(), ClipPlan(10, 2)
    )
    assert len(stored.frames) == 25
    assert [(c.start, c.stop) for c in stored.clips] == [(0, 10), (8, 18), (16, 25)]
    frame = await storage.get_bytes(bucket, object_key("org_a", stored.frames[7]))
    assert hashlib.sha256(frame).hexdigest() == stored.frames[7]
    assert Image.open(io.BytesIO(frame)).size == (320, 240)
    sheet = Image.open(io.BytesIO(await storage.get_bytes(bucket, stored.sheets[2])))
    width, height = stored.tile
    assert (width, height) == (160, 120)
    assert sheet.size == (width * 9, height)  # frames 16..24: one row of nine
    manifest = json.loads(await storage.get_bytes(bucket, stored.manifest_key))
    assert manifest["frames"] == stored.frames
    assert manifest["clips"] == [[0, 10], [8, 18], [16, 25]]
    assert manifest["video"]["codec"] == "h264"
    assert manifest["previews"]["sheets"] == stored.sheets


async def test_the_same_video_twice_stores_each_object_once(
    tmp_path: Path, settings: Settings, storage: ObjectStorage
) -> None:
    path, sha = saved(tmp_path, render("webm", frames=12), "clip.webm")
    bucket = settings.images_bucket
    for _ in range(2):
        stored = await store_video(
            storage, bucket, "org_a", path, "clip.webm", sha, VideoLimits(), Sampling(), ClipPlan()
        )
    frames = await storage.list_keys(bucket, "org_a/sha256/")
    assert len(frames) == len(set(stored.frames)) == 12
    # The original, one preview sheet and the manifest.
    assert len(await storage.list_keys(bucket, video_prefix("org_a", sha))) == 3


@pytest.mark.parametrize(
    ("cut", "limits", "code"),
    [
        (0.9, VideoLimits(), "truncated_video"),
        (1.0, VideoLimits(max_frames=20), "too_many_frames"),
    ],
)
async def test_a_video_refused_halfway_stores_nothing(
    tmp_path: Path,
    settings: Settings,
    storage: ObjectStorage,
    cut: float,
    limits: VideoLimits,
    code: str,
) -> None:
    video = render("webm", frames=40)
    path, sha = saved(tmp_path, video[: int(len(video) * cut)], "clip.webm")
    with pytest.raises(AppError) as caught:
        await store_video(
            storage,
            settings.images_bucket,
            "org_a",
            path,
            "clip.webm",
            sha,
            limits,
            Sampling(),
            ClipPlan(),
        )
    assert caught.value.code == code
    assert await storage.list_keys(settings.images_bucket, "org_a/") == []


FACE = (200, 300, 120)  # top, left, size of the face drawn into each frame


def frames_with_a_face(count: int) -> list[np.ndarray]:
    """`count` street scenes (BGR), each with a face drawn at FACE."""
    top, left, size = FACE
    frames = []
    for seed in range(count):
        scene = street(9_300 + seed)
        scene[top : top + size, left : left + size] = face(size)
        frames.append(scene)
    return frames


def faces_at_the_face(picture: bytes) -> int:
    """Faces a full-size search finds where the face was drawn, in a stored JPEG."""
    top, left, size = FACE
    drawn = Region(left, top, size, size, "face")
    found = Detector(scale=1.0).detect(decode(picture))
    return sum(r.kind == "face" and r.overlaps(drawn) for r in found)


@pytest.mark.parametrize(
    ("kind", "redaction", "originals"),
    [
        ("mp4", RedactionSettings(mode="annotators"), 1),
        ("mp4", RedactionSettings(mode="everyone", keep_original=False), 0),
        ("zip", RedactionSettings(mode="everyone", keep_original=False), 0),
    ],
)
async def test_frames_of_a_redacting_project_are_stored_blurred(
    tmp_path: Path,
    settings: Settings,
    storage: ObjectStorage,
    kind: str,
    redaction: RedactionSettings,
    originals: int,
) -> None:
    pictures = frames_with_a_face(3)
    assert all(faces_at_the_face(jpeg(p)) for p in pictures)  # the face is there to find
    if kind == "mp4":
        rgb = (cv2.cvtColor(p, cv2.COLOR_BGR2RGB).astype(np.uint8) for p in pictures)
        path, sha = saved(tmp_path, encode(rgb, 1280, 720, 10), "clip.mp4")
    else:
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            for n, picture in enumerate(pictures):
                zf.writestr(f"frame_{n:03d}.jpg", jpeg(picture))
        path, sha = saved(tmp_path, archive.getvalue(), "frames.zip")
    bucket, org = settings.images_bucket, f"org_redact_{kind}_{originals}"
    stored = await store_video(
        storage,
        bucket,
        org,
        path,
        path.name,
        sha,
        VideoLimits(),
        Sampling(),
        ClipPlan(),
        10.0 if kind == "zip" else None,
        Redaction(redaction, Detector()),
    )
    assert stored.blurred is not None and stored.blurred["frames"] == 3
    assert stored.blurred["faces"] >= 3
    for sha_of_frame in stored.frames:
        frame = await storage.get_bytes(bucket, object_key(org, sha_of_frame))
        assert hashlib.sha256(frame).hexdigest() == sha_of_frame
        assert faces_at_the_face(frame) == 0
    manifest = json.loads(await storage.get_bytes(bucket, stored.manifest_key))
    assert manifest["redaction"] == {
        "mode": redaction.mode,
        "original_kept": bool(originals),
        **stored.blurred,
    }
    kept = await storage.list_keys(bucket, video_prefix(org, sha))
    assert sum(key.endswith("/original") for key in kept) == originals
