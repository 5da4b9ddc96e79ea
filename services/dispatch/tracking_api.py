"""Tracker help for a leased video task: the clip's frames from storage, OpenCV's tracker on
them (shared/vision/tracker.py), the proposed boxes back.

Tracking is CPU work in the API process: a few requests at a time per process (the rest
wait), each bounded to 300 frames of its own clip. Model-backed help belongs to the assist
service when it exists; this needs no model.
"""

from __future__ import annotations

import asyncio
import math

import cv2
import numpy as np
from fastapi import APIRouter

from aviary.contracts.dispatch import TrackBody, TrackProposals
from services.dispatch.api import WorkerDep
from shared.errors import AppError
from shared.store.storage import ObjectStorage
from shared.vision.tracker import Picture, follow

router = APIRouter(prefix="/v1/tasks", tags=["worker"])
TRACKING_AT_ONCE = 2
_gate = asyncio.Semaphore(TRACKING_AT_ONCE)


async def _picture(storage: ObjectStorage, bucket: str, key: str) -> Picture:
    data = await storage.get_bytes(bucket, key)
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if picture is None:
        raise AppError("frame_unreadable", f"a frame of the clip ({key}) could not be decoded")
    return picture.astype(np.uint8, copy=False)


@router.post("/{task_id}/track", response_model=TrackProposals)
async def track(task_id: str, body: TrackBody, call: WorkerDep) -> TrackProposals:
    """Follow a box through the next frames of the clip (CSRT, or the faster KCF); the
    person keeps the proposals or redraws where one is off."""
    task = (await call.held(task_id, body)).task
    clip, video = task.get("clip"), task.get("video")
    if clip is None or video is None:
        raise AppError(
            "not_a_video_task", "only a video task's frames can be tracked", status_code=409
        )
    if not clip["start"] <= body.frame < clip["stop"]:
        raise AppError(
            "frame_outside_clip",
            f"the clip holds frames {clip['start']}..{clip['stop'] - 1}",
            status_code=422,
        )
    if not all(math.isfinite(v) for v in body.bbox) or body.bbox[2] <= 0 or body.bbox[3] <= 0:
        raise AppError("invalid_box", "the box needs a finite corner and a size", status_code=422)
    stop = min(clip["stop"], body.frame + 1 + body.frames)
    keys = video["frame_keys"][body.frame - clip["start"] : stop - clip["start"]]
    storage = call.parts.runtime.storage
    async with _gate:
        pictures = await asyncio.gather(*(_picture(storage, video["bucket"], k) for k in keys))
        try:
            found = await asyncio.to_thread(
                lambda: list(follow(pictures[0], body.bbox, pictures[1:], body.method))
            )
        except ValueError as exc:
            raise AppError("invalid_box", str(exc), status_code=422) from exc
    boxes = [b for b in found if b is not None]
    return TrackProposals(frame=body.frame, boxes=boxes, lost=len(boxes) < len(found))
