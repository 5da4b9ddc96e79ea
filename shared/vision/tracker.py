"""Tracker help for video: from a box a person drew, propose the object's box in the frames
that follow, with an OpenCV tracker that needs no model weights (CSRT, or the faster KCF, from
the opencv-contrib wheel). The person accepts the proposals or corrects one, which becomes a
keyframe to track on from.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

Box = tuple[float, float, float, float]  # left, top, width, height, in pixels
Method = Literal["csrt", "kcf"]
Picture = npt.NDArray[np.uint8]  # height x width x 3, BGR (as OpenCV and PyAV's bgr24 give)
MAX_FRAMES = 600  # proposals per request: twenty seconds at 30 fps
# The tracker's own "found" is not enough: OpenCV 5.1's KCF reports every box found, even on a
# black frame. So the colours in the new box are compared with those in the box a frame before
# (8x8x8-bin histograms, Bhattacharyya distance: 0 the same, 1 nothing in common; robust to the
# few pixels of lag and scale trackers have): past SAME_OBJECT it is something else, or nothing.
# On the simulator's moving objects the distance stays under 0.2; a black frame gives 1.0.
SAME_OBJECT = 0.5
BINS = 8


def _tracker(method: Method) -> cv2.Tracker:
    return cv2.TrackerCSRT.create() if method == "csrt" else cv2.TrackerKCF.create()


def follow(
    first: Picture, box: Box, following: Iterable[Picture], method: Method = "csrt"
) -> Iterator[Box | None]:
    """The object's box in each picture of `following`, starting from `box` in `first`;
    None from the first picture where the tracker loses it (proposals stop there)."""
    height, width = first.shape[:2]
    x, y, w, h = _clipped(box, width, height)
    if w < 2 or h < 2:
        raise ValueError(f"a box of {w:g}x{h:g} inside the frame is too small to track")
    tracker = _tracker(method)
    tracker.init(first, (round(x), round(y), round(w), round(h)))
    before = _colours(first, (x, y, w, h))
    for n, picture in enumerate(following):
        if n >= MAX_FRAMES:
            return
        found, (bx, by, bw, bh) = tracker.update(picture)
        box = _clipped((float(bx), float(by), float(bw), float(bh)), width, height)
        now = _colours(picture, box) if found and box[2] >= 1 and box[3] >= 1 else None
        if now is None or not _alike(before, now):
            yield None
            return
        before = now
        yield box


def _colours(picture: Picture, box: Box) -> npt.NDArray[np.float32]:
    """The colour histogram of the box's pixels."""
    x, y, w, h = (round(v) for v in box)
    crop = np.ascontiguousarray(picture[y : y + max(1, h), x : x + max(1, w)])
    bins = cv2.calcHist([crop], [0, 1, 2], None, [BINS] * 3, [0, 256] * 3)
    return np.asarray(bins, dtype=np.float32)


def _alike(before: npt.NDArray[np.float32], now: npt.NDArray[np.float32]) -> bool:
    distance = cv2.compareHist(before, now, cv2.HISTCMP_BHATTACHARYYA)
    return bool(distance <= SAME_OBJECT)


def _clipped(box: Box, width: int, height: int) -> Box:
    x, y, w, h = box
    left, top = max(0.0, x), max(0.0, y)
    right, bottom = min(float(width), x + w), min(float(height), y + h)
    return (left, top, max(0.0, right - left), max(0.0, bottom - top))
