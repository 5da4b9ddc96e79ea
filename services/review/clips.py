"""A video clip's frames for the review desk: the frame list of the video's manifest (which
ingest wrote, and the clip's event names), read once per video and process, and each frame
as a presigned URL."""

from __future__ import annotations

import json
from collections import OrderedDict

from shared.store.mongo import Doc
from shared.store.storage import ObjectStorage, content_key

MANIFESTS_KEPT = 64


class ClipFrames:
    def __init__(self, storage: ObjectStorage, ttl_s: int) -> None:
        self.storage = storage
        self.ttl_s = ttl_s
        self._frames: OrderedDict[str, list[str]] = OrderedDict()

    async def urls(self, clip: Doc, org_id: str) -> list[str]:
        """The clip's frames, in order, as URLs the browser can load for `ttl_s`."""
        bucket, key = clip.get("bucket"), clip.get("manifest_key")
        if not bucket or not key:
            return []  # a clip event from before clips named their manifest
        frames = self._frames.get(key)
        if frames is None:
            frames = json.loads(await self.storage.get_bytes(bucket, key))["frames"]
            self._frames[key] = frames
            if len(self._frames) > MANIFESTS_KEPT:
                self._frames.popitem(last=False)
        else:
            self._frames.move_to_end(key)
        return [
            self.storage.presigned_get(bucket, content_key(org_id, sha), self.ttl_s)
            for sha in frames[clip["start"] : clip["stop"]]
        ]
