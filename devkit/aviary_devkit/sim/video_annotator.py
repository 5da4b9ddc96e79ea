"""A simulated person labeling video, by hand or with keyframes, interpolation and a tracker.

By hand, the person draws the object's box in every frame it is in. With help, the person draws
it once, asks the tracker to follow it for the next `HORIZON` frames, and looks through the
proposals: each one close enough to where the person sees the object is kept, and the first
that is not is redrawn there, becoming the frame to track on from. The boxes kept are then
reduced to the keyframes that linear interpolation needs (`keyframes_for`), which is what the
person's tool stores. Each drawn box and each request to the tracker is one action. The
person's eye is the scene's truth, and each box they draw is off by a little noise.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass

from aviary.contracts.shapes import BoxShape
from aviary.contracts.tracks import Keyframe, Track
from aviary_devkit.sim.video_scenes import Box, Scene
from shared.domain.tracks import box_iou, interpolate, shape_at
from shared.vision.tracker import Method, follow

ACCEPT_IOU = 0.75  # a proposal at least this close to the object is kept as it is
DRAW_NOISE_PX = 1.0  # how far off a person's drawn box is (standard deviation)
HORIZON = 60  # frames the person asks the tracker to follow at a time
KEEP_IOU = 0.95  # interpolation stands in for a kept box when it is at least this close


@dataclass(frozen=True)
class Effort:
    actions: int
    keyframes: int
    frames: int
    mean_iou: float  # of the finished track, frame by frame, against the truth


def by_hand(truth: list[Box | None]) -> Effort:
    present = sum(1 for box in truth if box is not None)
    return Effort(actions=present, keyframes=present, frames=present, mean_iou=1.0)


def with_help(
    scene: Scene, n: int, rng: random.Random, method: Method = "csrt"
) -> tuple[Effort, Track]:
    """Object n of the scene (present from frame 0 on), labeled with the tracker's help."""
    truth = scene.truth[n]
    last = max(f for f, box in enumerate(truth) if box is not None)
    first = truth[0]
    assert first is not None, "the simulated person starts where the object is"
    boxes: dict[int, Box] = {0: _drawn(first, rng)}
    actions, f = 1, 0
    while f < last:
        actions += 1  # "follow it from here"
        stop = min(last, f + HORIZON)
        proposals = follow(scene.frames[f], boxes[f], scene.frames[f + 1 : stop + 1], method)
        redrawn = None
        for g, proposal in enumerate(proposals, start=f + 1):
            seen = truth[g]
            if seen is None:
                break
            if proposal is None or box_iou(proposal, seen) < ACCEPT_IOU:
                boxes[g] = _drawn(seen, rng)
                actions += 1
                redrawn = g
                break
            boxes[g] = proposal
        f = redrawn if redrawn is not None else max(boxes)
        if redrawn is None and f < stop:  # the tracker gave up without a proposal
            boxes[f + 1] = _drawn(truth[f + 1] or boxes[f], rng)
            actions += 1
            f += 1
    track = keyframes_for(boxes, class_id=1, track_id=f"obj{n}")
    ious = [
        box_iou(frame.shape.bbox, seen)  # type: ignore[union-attr]
        for g, seen in enumerate(truth[: last + 1])
        if seen is not None and (frame := shape_at(track, g)) is not None
    ]
    effort = Effort(actions, len(track.keyframes), last + 1, statistics.fmean(ious))
    return effort, track


def keyframes_for(boxes: dict[int, Box], class_id: int, track_id: str) -> Track:
    """The fewest keyframes (greedily, left to right) from which linear interpolation gives
    every kept box back to within KEEP_IOU."""
    frames = sorted(boxes)
    kept = [frames[0]]
    start = 0
    for end in range(2, len(frames)):
        a, b = frames[start], frames[end]
        shape_a = BoxShape(class_id=class_id, bbox=boxes[a])
        shape_b = BoxShape(class_id=class_id, bbox=boxes[b])
        if any(
            box_iou(
                interpolate(shape_a, shape_b, (frames[m] - a) / (b - a)).bbox,  # type: ignore[union-attr]
                boxes[frames[m]],
            )
            < KEEP_IOU
            for m in range(start + 1, end)
        ):
            start = end - 1
            kept.append(frames[start])
    if kept[-1] != frames[-1]:
        kept.append(frames[-1])
    keys = tuple(Keyframe(frame=f, shape=BoxShape(class_id=class_id, bbox=boxes[f])) for f in kept)
    return Track(track_id=track_id, keyframes=keys)


def _drawn(box: Box, rng: random.Random) -> Box:
    x, y, w, h = box
    n = [rng.gauss(0, DRAW_NOISE_PX) for _ in range(4)]
    return (x + n[0], y + n[1], max(2.0, w + n[2]), max(2.0, h + n[3]))
