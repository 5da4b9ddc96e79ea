"""Image sequences sent frame by frame: a camera rig or a client's pipeline PUTs each frame
with its sequence id and index as it has them, in any order, then closes the sequence.

Each frame is checked on arrival (a whole JPEG, PNG or WebP, within the size limits) and kept
in storage under a staging key; a frame sent again replaces the one before. Closing checks that
frames 0..N-1 are all there and nothing beyond, then reads them exactly as a zip of frames is
read (`sequence.py`: one size throughout, every frame decoded) into one video item, through
the same store-then-record path as any video. The zip it builds is the same for the same frames
(fixed names and times), so closing again after a crash finds the item already made and gives
it back; only then are the staged frames removed.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

from aviary.contracts.ingest import ItemRead
from services.ingest import domain
from services.ingest.repositories.sequences import SequenceRepository
from services.ingest.uploads import item_read
from services.ingest.video_uploads import VideoIngestor
from shared.errors import AppError, Conflict
from shared.runtime import Runtime
from shared.store.mongo import Doc

CHUNK = 1 << 20
SUFFIXES = {"jpeg": "jpg", "png": "png", "webp": "webp"}
MAX_LISTED = 100  # missing frames named in a refusal


class SequenceUploads:
    """One video project's batch receiving image sequences frame by frame."""

    def __init__(self, runtime: Runtime, sequences: SequenceRepository, video: VideoIngestor):
        self.runtime = runtime
        self.sequences = sequences
        self.video = video
        self.batch: Doc = video.batch

    def _staging_key(self, sequence_id: str, index: int) -> str:
        batch = self.batch
        return f"{batch['org_id']}/staging/sequences/{batch['_id']}/{sequence_id}/{index:06d}"

    async def _refuse_closed(self, sequence_id: str) -> None:
        state = await self.sequences.get(self.batch["_id"], sequence_id)
        if state is not None and state["status"] == "closed":
            raise Conflict("sequence_closed", f"sequence {sequence_id!r} is closed")

    async def put_frame(self, sequence_id: str, index: int, data: bytes) -> domain.ImageInfo:
        """Check and keep one frame (422/415 for what is not a whole image)."""
        settings = self.runtime.settings
        if index >= settings.max_video_frames:
            raise AppError(
                "too_many_frames",
                f"a sequence holds at most {settings.max_video_frames:,} frames",
                status_code=413,
            )
        await self._refuse_closed(sequence_id)
        info = await asyncio.to_thread(domain.inspect_image, data, settings.max_image_pixels)
        key = self._staging_key(sequence_id, index)
        await self.runtime.storage.put_bytes(
            settings.images_bucket, key, data, content_type=info.content_type
        )
        if not await self.sequences.put_frame(self.batch, sequence_id, index, key, info):
            raise Conflict("sequence_closed", f"sequence {sequence_id!r} is closed")
        return info

    async def close(
        self, sequence_id: str, frame_count: int, fps: float, file_name: str
    ) -> ItemRead:
        """Frames 0..frame_count-1 become one video item (closed before: the same item)."""
        batch_id = self.batch["_id"]
        state = await self.sequences.get(batch_id, sequence_id)
        if state is not None and state["status"] == "closed":
            known = await self.video.items.find_many([state["item_id"]])
            return item_read(known[state["item_id"]], duplicate=True)
        frames = await self.sequences.frames_of(batch_id, sequence_id)
        check_complete([f["index"] for f in frames], frame_count)
        with tempfile.TemporaryDirectory(prefix="aviary-sequence-") as folder:
            path = Path(folder) / "sequence.zip"
            await self._zip(frames, path)
            item = await self.video.ingest(_chunks(path), file_name or f"{sequence_id}.zip", fps)
        await self.sequences.close(batch_id, sequence_id, item.id, frame_count)
        bucket = self.runtime.settings.images_bucket
        for frame in frames:
            await self.runtime.storage.remove(bucket, frame["key"])
        await self.sequences.forget_frames(batch_id, sequence_id)
        return item

    async def _zip(self, frames: list[Doc], path: Path) -> None:
        """The frames, stored uncompressed under fixed names and times: the same frames
        make the same bytes, so the same item."""
        bucket = self.runtime.settings.images_bucket
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            for frame in frames:
                data = await self.runtime.storage.get_bytes(bucket, frame["key"])
                if hashlib.sha256(data).hexdigest() != frame["sha256"]:
                    raise AppError(
                        "frame_changed",
                        f"frame {frame['index']} changed while closing; close again",
                        status_code=409,
                    )
                name = f"{frame['index']:06d}.{SUFFIXES[frame['format']]}"
                entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                await asyncio.to_thread(archive.writestr, entry, data)


def check_complete(indexes: list[int], frame_count: int) -> None:
    """Frames 0..frame_count-1, each once, nothing beyond: 422 naming what is missing or
    extra otherwise."""
    have = set(indexes)
    missing = [i for i in range(frame_count) if i not in have]
    extra = sorted(i for i in have if i >= frame_count)
    if missing:
        raise AppError(
            "missing_frames",
            f"{len(missing)} of {frame_count} frames have not arrived",
            status_code=422,
            details=missing[:MAX_LISTED],
        )
    if extra:
        raise AppError(
            "unexpected_frames",
            f"frames beyond {frame_count - 1} arrived: {extra[:MAX_LISTED]}",
            status_code=422,
            details=extra[:MAX_LISTED],
        )


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            yield chunk
