"""One `POST /v1/assist/track`: a box a person drew on a video's frame, followed through the
next frames by OpenCV's tracker (shared/vision/tracker.py, no model weights).

Frames come through the image cache: a person follows several objects through one stretch of
a clip, and each frame is read and decoded once. The tracker runs in the CPU pool, a few
requests at a time (each holds its frames in memory), so it competes with segmenting here,
not with `next` and `submit` in dispatch.
"""

from __future__ import annotations

import asyncio
import math
import time

from aviary.contracts.assist import TrackRequest, TrackResult
from services.assist.access import ItemAccess
from services.assist.cpu import CpuPool
from services.assist.domain import check_frame, invalid
from services.assist.images import ImageCache
from shared.security.auth import Principal
from shared.vision.tracker import follow

# Requests tracking at once per process: up to 301 decoded frames each.
TRACKING_AT_ONCE = 2


class Tracking:
    def __init__(self, access: ItemAccess, images: ImageCache, pool: CpuPool) -> None:
        self.access = access
        self.images = images
        self.pool = pool
        self._gate = asyncio.Semaphore(TRACKING_AT_ONCE)

    async def track(self, principal: Principal, request: TrackRequest) -> TrackResult:
        """The object's box in each of the next frames; 404 for an item the caller may not
        see, 422 for an item that is not a video, a frame past its end or a box that cannot
        be followed."""
        started = time.perf_counter()
        item, _ = await self.access.visible(principal, request.item_id)
        if item.video is None:
            raise invalid("not_a_video", f"only a video is tracked (this is {item.media})")
        count = item.video.frame_count
        check_frame(request.frame, count)
        _, _, width, height = request.bbox
        if not all(math.isfinite(v) for v in request.bbox) or width <= 0 or height <= 0:
            raise invalid("invalid_box", "the box needs a finite corner and a size")
        stop = min(count, request.frame + 1 + request.frames)
        async with self._gate:
            pictures = await asyncio.gather(
                *(self.images.picture(item, frame) for frame in range(request.frame, stop))
            )
            first, *following = (p.pixels for p in pictures)
            try:
                found = await self.pool.run(
                    lambda: list(follow(first, request.bbox, following, request.method))
                )
            except ValueError as exc:  # nothing of the box inside the frame
                raise invalid("invalid_box", str(exc)) from exc
        boxes = [box for box in found if box is not None]
        return TrackResult(
            frame=request.frame,
            boxes=boxes,
            lost=len(boxes) < len(found),
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        )
