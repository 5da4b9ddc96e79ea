"""A video's frames into object storage: read the whole file first, store only then.

The reader (video.py) hands frames over as it decodes; they wait in a spool folder until the
file has been read to its end, so a refusal halfway stores nothing. Frames are content-addressed
like images (the same frame in two videos is one object). Their previews go into one sprite
sheet a clip (a grid of tiles, row by row), which is what the timeline shows and half the
objects to write. The frame list, the clip plan, the sheets and what the reader found go into
one manifest object, written last: a video whose manifest exists is whole. The file as
uploaded is kept beside them (`original`), so frames can be taken again at another rate,
unless the project redacts for everyone without keeping originals: then its frames, blurred
as they are decoded, are all that is stored (docs/privacy.md).
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from services.ingest.domain import object_key
from services.ingest.redaction import Redaction
from services.ingest.sequence import read_sequence
from services.ingest.video import Frame, Sampling, VideoInfo, VideoLimits, read_video
from shared.domain.tracks import Clip, plan_clips
from shared.store.storage import ObjectStorage

PUTS_IN_FLIGHT = 16
SHEET_COLUMNS = 10


@dataclass(frozen=True)
class ClipPlan:
    length: int = 300
    overlap: int = 10


@dataclass(frozen=True)
class StoredVideo:
    info: VideoInfo
    frames: list[str]  # SHA-256 of each kept frame, in order
    times_s: list[float]
    clips: list[Clip]
    sheets: list[str]  # one preview sheet a clip
    tile: tuple[int, int]  # a preview's width and height in the sheets
    manifest_key: str
    # With redaction: faces and plates blurred, and the frames that had any.
    blurred: dict[str, int] | None = None


def video_prefix(org_id: str, sha256: str) -> str:
    return f"{org_id}/videos/{sha256[:2]}/{sha256}"


def manifest_key(org_id: str, sha256: str) -> str:
    return f"{video_prefix(org_id, sha256)}/manifest.json"


async def store_video(
    storage: ObjectStorage,
    bucket: str,
    org_id: str,
    path: Path,
    file_name: str | None,
    sha256: str,
    limits: VideoLimits,
    sampling: Sampling,
    plan: ClipPlan,
    sequence_fps: float | None = None,
    redaction: Redaction | None = None,
) -> StoredVideo:
    """Read the video at `path` (whose bytes hash to `sha256`), store its frames, previews
    and manifest under the organisation's prefix, and return what was stored. With
    `sequence_fps`, the file is a zip of frames (sequence.py) shown at that rate; with a
    `redaction` that blurs, every frame has its faces and plates blurred."""
    redact = redaction.finder if redaction is not None else None
    mode = redaction.settings.mode if redaction is not None else "off"
    keeps_original = redaction is None or redaction.keeps_original
    with tempfile.TemporaryDirectory(prefix="aviary-video-") as spool_dir:
        spool = Path(spool_dir)
        kept: list[Frame] = []
        blurred = {"faces": 0, "plates": 0, "frames": 0}

        def keep(frame: Frame) -> None:
            # Only the bytes go to disk; the list keeps the small rest.
            (spool / f"{frame.sha256}.jpg").write_bytes(frame.jpeg)
            (spool / f"{frame.sha256}.webp").write_bytes(frame.preview)
            kept.append(
                Frame(frame.index, frame.source_index, frame.time_s, frame.sha256, b"", b"")
            )
            blurred["faces"] += frame.blurred.count("face")
            blurred["plates"] += frame.blurred.count("plate")
            blurred["frames"] += bool(frame.blurred)

        if sequence_fps is None:
            info = await asyncio.to_thread(
                read_video, path, file_name, limits, sampling, keep, redact
            )
        else:
            info = await asyncio.to_thread(
                read_sequence, path, limits, sampling, keep, sequence_fps, redact
            )
        shas = [f.sha256 for f in kept]
        clips = plan_clips(len(kept), plan.length, plan.overlap)
        prefix = video_prefix(org_id, sha256)
        sheets = [f"{prefix}/previews-{clip.index}.webp" for clip in clips]
        async with asyncio.TaskGroup() as group:
            group.create_task(_put_frames(storage, bucket, org_id, spool, sorted(set(shas))))
            if keeps_original:
                group.create_task(_put_original(storage, bucket, f"{prefix}/original", path))
            tile = await _put_sheets(storage, bucket, spool, shas, clips, sheets)
    stored = StoredVideo(
        info=info,
        frames=shas,
        times_s=[round(f.time_s, 6) for f in kept],
        clips=clips,
        sheets=sheets,
        tile=tile,
        manifest_key=manifest_key(org_id, sha256),
        blurred=blurred if redact is not None else None,
    )
    manifest = {
        "video": asdict(info),
        "frames": stored.frames,
        "times_s": stored.times_s,
        "clips": [[c.start, c.stop] for c in stored.clips],
        "previews": {"sheets": sheets, "tile": list(tile), "columns": SHEET_COLUMNS},
        "redaction": {"mode": mode, "original_kept": keeps_original, **blurred}
        if redact is not None
        else None,
    }
    await storage.put_bytes(
        bucket, stored.manifest_key, json.dumps(manifest).encode(), "application/json"
    )
    return stored


async def _put_frames(
    storage: ObjectStorage, bucket: str, org_id: str, spool: Path, shas: list[str]
) -> None:
    gate = asyncio.Semaphore(PUTS_IN_FLIGHT)

    async def put(sha: str) -> None:
        async with gate:
            data = await asyncio.to_thread((spool / f"{sha}.jpg").read_bytes)
            await storage.put_bytes(bucket, object_key(org_id, sha), data, "image/jpeg")

    async with asyncio.TaskGroup() as group:
        for sha in shas:
            group.create_task(put(sha))


async def _put_original(storage: ObjectStorage, bucket: str, key: str, path: Path) -> None:
    with await asyncio.to_thread(path.open, "rb") as f:
        size = await asyncio.to_thread(lambda: path.stat().st_size)
        await storage.put_stream(bucket, key, f, size, "application/octet-stream")


async def _put_sheets(
    storage: ObjectStorage,
    bucket: str,
    spool: Path,
    shas: list[str],
    clips: list[Clip],
    keys: list[str],
) -> tuple[int, int]:
    """One sheet of the clip's previews in frame order, SHEET_COLUMNS a row; the tile size."""
    tile = (0, 0)
    for clip, key in zip(clips, keys, strict=True):
        sheet, tile = await asyncio.to_thread(_sheet, spool, shas[clip.start : clip.stop])
        await storage.put_bytes(bucket, key, sheet, "image/webp")
    return tile


def _sheet(spool: Path, shas: list[str]) -> tuple[bytes, tuple[int, int]]:
    tiles = [Image.open(spool / f"{sha}.webp") for sha in shas]
    width, height = tiles[0].size
    rows = -(-len(tiles) // SHEET_COLUMNS)
    sheet = Image.new("RGB", (width * min(len(tiles), SHEET_COLUMNS), height * rows))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % SHEET_COLUMNS) * width, (i // SHEET_COLUMNS) * height))
    out = io.BytesIO()
    sheet.save(out, "WEBP", quality=70, method=0)
    return out.getvalue(), (width, height)
