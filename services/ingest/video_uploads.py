"""Turning an uploaded video into an item: receive it to disk, read and store it, record it.

The body is written to a temporary file as it arrives (hashed on the way, refused once over
the size limit), because a video is read twice by the decoder and may be gigabytes. An item is
content-addressed like an image: the same file in a project is one item. Its frames, preview
sheets and manifest are stored before the item is recorded, and the item and its
`item.ingested` commit together, so a refusal or a crash at any point leaves no item behind
(only frames a later upload of the same file will reuse).
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from aviary.contracts.ingest import ItemRead
from aviary.contracts.projects import MediaKind, VideoSettings
from services.ingest import domain
from services.ingest.ledger import BatchLedger
from services.ingest.redaction import Redaction
from services.ingest.repositories import ItemRepository
from services.ingest.sequence import ZIP_MAGIC
from services.ingest.uploads import item_read
from services.ingest.video import Sampling, VideoLimits
from services.ingest.video_store import ClipPlan, StoredVideo, store_video
from shared.errors import AppError
from shared.events import ImageRef, ItemIngested, VideoRef
from shared.runtime import Runtime
from shared.settings import Settings
from shared.store.mongo import Doc, DuplicateKeyError, utcnow


@dataclass(frozen=True)
class Received:
    """A body on disk: where, how big, and its SHA-256."""

    path: Path
    size: int
    sha256: str


async def receive_to_file(chunks: AsyncIterator[bytes], folder: Path, limit: int) -> Received:
    """Write the body into `folder`, hashing it, refusing it past `limit` bytes."""
    path = folder / "upload"
    digest = hashlib.sha256()
    size = 0
    # Writes go to a worker thread: a slow disk must not hold up the other requests.
    with await asyncio.to_thread(path.open, "wb") as out:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise AppError("too_large", f"the file exceeds {limit} bytes", status_code=413)
            digest.update(chunk)
            await asyncio.to_thread(out.write, chunk)
    if size == 0:
        raise AppError("empty_body", "the upload is empty", status_code=400)
    return Received(path, size, digest.hexdigest())


async def already_stored(items: ItemRepository, item_id: str) -> ItemRead | None:
    """The item a whole-file upload would become, if the same file came before."""
    known = await items.find_many([item_id])
    return item_read(known[item_id], duplicate=True) if item_id in known else None


async def record_one(
    items: ItemRepository, ledger: BatchLedger, batch: Doc, doc: Doc, event: ItemIngested
) -> ItemRead:
    """Record a whole-file item (a video, a recording) and its `item.ingested` together."""
    try:
        await ledger.add_items(batch, [(doc, event)])
    except DuplicateKeyError:  # the same file, uploaded twice at once: the other won
        return item_read((await items.find_many([doc["_id"]]))[doc["_id"]], duplicate=True)
    return item_read(doc)


def limits_for(settings: Settings, video: VideoSettings) -> VideoLimits:
    return VideoLimits(
        max_duration_s=video.max_duration_s,
        max_side_px=settings.max_video_side_px,
        max_frame_pixels=settings.max_video_side_px**2,
        max_frames=settings.max_video_frames,
        max_decoded_pixels=settings.max_video_decoded_pixels,
    )


class WholeFileIngestor:
    """What ingesting a whole file (a video, a recording) needs: an open batch of a project
    of the file's media kind, the items and the ledger to record it in."""

    media: ClassVar[MediaKind]

    def __init__(
        self, runtime: Runtime, items: ItemRepository, ledger: BatchLedger, batch: Doc, project: Doc
    ) -> None:
        domain.check_upload_media(project.get("media", "image"), self.media)
        if batch["status"] != "open":
            raise AppError("batch_sealed", "the batch is sealed; open a new batch", status_code=409)
        self.runtime = runtime
        self.items = items
        self.ledger = ledger
        self.batch = batch
        self.prelabel = domain.wants_prelabels(project)


class VideoIngestor(WholeFileIngestor):
    """Reads, stores and records videos for one batch of a video project."""

    media = "video"

    def __init__(
        self, runtime: Runtime, items: ItemRepository, ledger: BatchLedger, batch: Doc, project: Doc
    ) -> None:
        super().__init__(runtime, items, ledger, batch, project)
        self.video = VideoSettings.model_validate(project.get("video") or {})
        self.redaction = Redaction.of(project, runtime.settings)

    async def ingest(
        self, chunks: AsyncIterator[bytes], file_name: str, sequence_fps: float = 10.0
    ) -> ItemRead:
        """A video file, or a zip of frames (an image sequence, shown at `sequence_fps`)."""
        settings = self.runtime.settings
        name = domain.safe_file_name(file_name)
        with tempfile.TemporaryDirectory(prefix="aviary-upload-") as folder:
            received = await receive_to_file(chunks, Path(folder), settings.max_video_bytes)
            iid = domain.item_id(self.batch["project_id"], received.sha256)
            if (known := await already_stored(self.items, iid)) is not None:
                return known
            is_zip = await asyncio.to_thread(_starts_with, received.path, ZIP_MAGIC)
            stored = await store_video(
                self.runtime.storage,
                settings.images_bucket,
                self.batch["org_id"],
                received.path,
                name,
                received.sha256,
                limits_for(settings, self.video),
                Sampling(self.video.every, self.video.per_second),
                ClipPlan(self.video.clip_frames, self.video.clip_overlap),
                sequence_fps if is_zip else None,
                self.redaction,
            )
        doc, event = self._record(name, received, iid, stored)
        return await record_one(self.items, self.ledger, self.batch, doc, event)

    def _record(
        self, name: str, received: Received, iid: str, stored: StoredVideo
    ) -> tuple[Doc, ItemIngested]:
        bucket = self.runtime.settings.images_bucket
        org = self.batch["org_id"]
        info = stored.info
        poster = domain.object_key(org, stored.frames[0])
        clips = tuple((c.start, c.stop) for c in stored.clips)
        doc: Doc = {
            "_id": iid,
            "batch_id": self.batch["_id"],
            "project_id": self.batch["project_id"],
            "org_id": org,
            "file_name": name,
            "sha256": received.sha256,
            "width": info.width,
            "height": info.height,
            "format": info.container,
            "size_bytes": received.size,
            "bucket": bucket,
            "object_key": poster,  # the first frame: what previews and lists show
            "preview_key": None,
            "pre_annotation": None,
            "media": "video",
            "codec": info.codec,
            "fps": info.fps,
            "duration_s": info.duration_s,
            "frame_count": len(stored.frames),
            "clip_count": len(clips),
            "manifest_key": stored.manifest_key,
            "created_at": utcnow(),
        }
        if stored.blurred is not None:  # what people see: frames with faces and plates blurred
            doc["redacted"] = stored.blurred
        image = ImageRef(
            bucket=bucket,
            object_key=poster,
            width=info.width,
            height=info.height,
            format="jpeg",
            sha256=stored.frames[0],
            file_name=name,
        )
        video = VideoRef(
            bucket=bucket,
            manifest_key=stored.manifest_key,
            sha256=received.sha256,
            width=info.width,
            height=info.height,
            fps=info.fps,
            frame_count=len(stored.frames),
            duration_s=info.duration_s,
            clips=clips,
        )
        event = ItemIngested(
            item_id=iid,
            project_id=doc["project_id"],
            batch_id=doc["batch_id"],
            org_id=org,
            image=image,
            video=video,
            prelabel=self.prelabel,
        )
        return doc, event


def _starts_with(path: Path, magic: bytes) -> bool:
    with path.open("rb") as f:
        return f.read(len(magic)) == magic
