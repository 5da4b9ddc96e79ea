"""Items' images, read from object storage and decoded once, kept while people click on them.

A person outlines several objects of an image, each with a box and a few clicks: the image is
read and decoded (cv2.imdecode, in the segmenters' threads) on the first call and taken from
memory on the next ones, least recently used first out once `max_bytes` of pixels are kept.
Calls that arrive together for an image not yet kept share one read. A video's frame is found
through the video's manifest (its frame list, kept too).
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict

import cv2
import numpy as np

from services.assist.cpu import CpuPool
from services.assist.repositories import KnownItem
from services.assist.segmenter import Picture, Pixels
from shared.errors import AppError, NotFound
from shared.store.storage import ObjectStorage, S3Error, content_key

# Video manifests kept (a frame list: 64 bytes a frame).
KEPT_MANIFESTS = 64


class ImageCache:
    def __init__(self, storage: ObjectStorage, max_bytes: int, pool: CpuPool) -> None:
        self.storage = storage
        self.max_bytes = max_bytes
        self.pool = pool
        self._kept: OrderedDict[tuple[str, int], Pixels] = OrderedDict()
        self._bytes = 0
        self._loading: dict[tuple[str, int], asyncio.Task[Pixels]] = {}
        self._frames: OrderedDict[str, list[str]] = OrderedDict()

    @property
    def kept_bytes(self) -> int:
        return self._bytes

    async def picture(self, item: KnownItem, frame: int = 0) -> Picture:
        """The item's image (frame `frame` of a video), decoded, BGR."""
        key = (item.item_id, frame)
        pixels = self._kept.get(key)
        if pixels is not None:
            self._kept.move_to_end(key)
            return Picture(item.item_id, frame, pixels)
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.create_task(self._load(item, frame), name="assist-image")
            self._loading[key] = loading
            loading.add_done_callback(lambda _: self._loading.pop(key, None))
        # Shielded: one caller giving up (a client gone) does not cancel the others' read.
        pixels = await asyncio.shield(loading)
        return Picture(item.item_id, frame, pixels)

    async def _load(self, item: KnownItem, frame: int) -> Pixels:
        bucket, object_key = await self._where(item, frame)
        try:
            data = await self.storage.get_bytes(bucket, object_key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                raise NotFound("image") from exc
            raise
        pixels = await self.pool.run(_decode, data)
        if pixels is None:
            raise AppError(
                "undecodable_image", "the item's image could not be decoded", status_code=422
            )
        self._keep((item.item_id, frame), pixels)
        return pixels

    async def _where(self, item: KnownItem, frame: int) -> tuple[str, str]:
        """The bucket and key of the image, or of a video's frame (from its manifest)."""
        if frame == 0 or item.video is None:
            return item.bucket, item.object_key
        video = item.video
        frames = self._frames.get(video.manifest_key)
        if frames is None:
            manifest = json.loads(await self.storage.get_bytes(video.bucket, video.manifest_key))
            frames = [str(sha) for sha in manifest["frames"]]
            self._frames[video.manifest_key] = frames
            if len(self._frames) > KEPT_MANIFESTS:
                self._frames.popitem(last=False)
        if frame >= len(frames):
            raise AppError(
                "frame_out_of_range", f"the video has {len(frames)} frames", status_code=422
            )
        return video.bucket, content_key(item.org_id, frames[frame])

    def _keep(self, key: tuple[str, int], pixels: Pixels) -> None:
        if pixels.nbytes > self.max_bytes or key in self._kept:
            return
        self._kept[key] = pixels
        self._bytes += pixels.nbytes
        while self._bytes > self.max_bytes:
            _, dropped = self._kept.popitem(last=False)
            self._bytes -= dropped.nbytes


def _decode(data: bytes) -> Pixels | None:
    """BGR pixels, upright (EXIF orientation applied, as ingest measured the image and as
    browsers show it); None for bytes that are not an image."""
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        return None
    pixels = decoded.astype(np.uint8, copy=False)
    pixels.setflags(write=False)  # shared by every request on the image
    return pixels
