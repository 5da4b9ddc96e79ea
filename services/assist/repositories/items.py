"""The items assist knows from `item.ingested`: where each one's image is, and whose it is.

Written once per item (`$setOnInsert`: a redelivered event changes nothing) and never
changed after, so a process keeps the ones it has read in memory: a person clicks on one item
many times, and each click then costs no database read.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from pymongo import UpdateOne

from shared.events import ItemIngested
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow

# Items kept in memory per process (a few hundred bytes each).
KEPT_ITEMS = 20_000


@dataclass(frozen=True)
class VideoFrames:
    """A video item's frames: the manifest lists each frame's content hash (ingest's
    video_store.py)."""

    bucket: str
    manifest_key: str
    frame_count: int


@dataclass(frozen=True)
class KnownItem:
    item_id: str
    project_id: str
    org_id: str
    batch_id: str
    media: str  # image | video | audio
    bucket: str  # the image (a video's first frame, a recording's waveform picture)
    object_key: str
    width: int
    height: int
    video: VideoFrames | None = None


def item_doc(event: ItemIngested) -> Doc:
    media = "video" if event.video else "audio" if event.audio else "image"
    video = event.video
    return {
        "_id": event.item_id,
        "project_id": event.project_id,
        "org_id": event.org_id,
        "batch_id": event.batch_id,
        "media": media,
        "bucket": event.image.bucket,
        "object_key": event.image.object_key,
        "width": event.image.width,
        "height": event.image.height,
        "video": {
            "bucket": video.bucket,
            "manifest_key": video.manifest_key,
            "frame_count": video.frame_count,
        }
        if video
        else None,
        "at": utcnow(),
    }


def known_item(doc: Doc) -> KnownItem:
    video = doc.get("video")
    return KnownItem(
        item_id=doc["_id"],
        project_id=doc["project_id"],
        org_id=doc["org_id"],
        batch_id=doc["batch_id"],
        media=doc["media"],
        bucket=doc["bucket"],
        object_key=doc["object_key"],
        width=int(doc["width"]),
        height=int(doc["height"]),
        video=VideoFrames(video["bucket"], video["manifest_key"], int(video["frame_count"]))
        if video
        else None,
    )


class ItemRepository:
    def __init__(self, db: ServiceDatabase, kept: int = KEPT_ITEMS) -> None:
        self.items = db["items"]
        self._kept = kept
        self._known: OrderedDict[str, KnownItem] = OrderedDict()

    async def ensure_indexes(self) -> None:
        await self.items.create_index("project_id")

    async def save_many(self, session: AsyncClientSession, events: Sequence[ItemIngested]) -> None:
        """Remember the items, in one write; an item known before is left as it is."""
        await self.items.bulk_write(
            [
                UpdateOne({"_id": e.item_id}, {"$setOnInsert": item_doc(e)}, upsert=True)
                for e in events
            ],
            ordered=False,
            session=session,
        )

    async def get(self, item_id: str) -> KnownItem | None:
        """The item, or None while assist has not heard of it."""
        item = self._known.get(item_id)
        if item is not None:
            self._known.move_to_end(item_id)
            return item
        doc = await self.items.find_one({"_id": item_id})
        if doc is None:
            return None  # not remembered: it may arrive any moment
        item = known_item(doc)
        self._known[item_id] = item
        if len(self._known) > self._kept:
            self._known.popitem(last=False)
        return item
