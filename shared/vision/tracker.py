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
    for n, picture in enumerate(following):
        if n >= MAX_FRAMES:
            return
        found, (bx, by, bw, bh) = tracker.update(picture)
        if not found or bw <= 0 or bh <= 0:
            yield None
            return
        yield _clipped((float(bx), float(by), float(bw), float(bh)), width, height)


def _clipped(box: Box, width: int, height: int) -> Box:
    x, y, w, h = box
    left, top = max(0.0, x), max(0.0, y)
    right, bottom = min(float(width), x + w), min(float(height), y + h)
    return (left, top, max(0.0, right - left), max(0.0, bottom - top))
