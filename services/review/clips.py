"""What the review desk shows of a part of a media item: a video clip's frames, or an audio
part's recording. Both come from the item's manifest (which ingest wrote, and the clip's
event names), read once per item and process, and handed out as presigned URLs."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from aviary.contracts.speech import AudioSettings, AudioView
from shared.store.mongo import Doc
from shared.store.storage import ObjectStorage, content_key

MANIFESTS_KEPT = 64


class ClipFrames:
    def __init__(self, storage: ObjectStorage, ttl_s: int) -> None:
        self.storage = storage
        self.ttl_s = ttl_s
        self._manifests: OrderedDict[str, dict[str, Any]] = OrderedDict()

    async def _manifest(self, bucket: str, key: str) -> dict[str, Any]:
        manifest = self._manifests.get(key)
        if manifest is None:
            manifest = json.loads(await self.storage.get_bytes(bucket, key))
            self._manifests[key] = manifest
            if len(self._manifests) > MANIFESTS_KEPT:
                self._manifests.popitem(last=False)
        else:
            self._manifests.move_to_end(key)
        return manifest

    async def urls(self, clip: Doc, org_id: str) -> list[str]:
        """The clip's frames, in order, as URLs the browser can load for `ttl_s`."""
        bucket, key = clip.get("bucket"), clip.get("manifest_key")
        if not bucket or not key:
            return []  # a clip event from before clips named their manifest
        frames = (await self._manifest(bucket, key))["frames"]
        return [
            self.storage.presigned_get(bucket, content_key(org_id, sha), self.ttl_s)
            for sha in frames[clip["start"] : clip["stop"]]
        ]

    async def audio(self, clip: Doc, settings: AudioSettings) -> AudioView:
        """An audio part: its recording's listening copy and peaks, and where the part runs."""
        bucket, key = clip["bucket"], clip["manifest_key"]
        manifest = await self._manifest(bucket, key)
        return AudioView(
            url=self.storage.presigned_get(bucket, manifest["listening_key"], self.ttl_s),
            peaks_url=self.storage.presigned_get(bucket, manifest["peaks_key"], self.ttl_s),
            duration_s=manifest["recording"]["duration_s"],
            start=clip["start"] / 1000,
            end=clip["stop"] / 1000,
            part=clip["index"],
            parts=clip["count"],
            settings=settings,
        )
