"""Tracks through frames: interpolation between keyframes, clips of a long video, stitching.

Pure functions over the contracts of `aviary.contracts.tracks`; every service that reads tracks
(review's agreement, export's per-frame formats) expands them here, and the browser's
`tracks.js` follows the same rules (tests/fixtures/interpolation.json holds both to them):

- Before a track's first keyframe, and from a keyframe marked `outside` until the next one that
  is not, the object is absent.
- Between two keyframes that are both inside, each coordinate moves linearly with the frame:
  v = v0 + (v1 - v0) * (f - f0) / (f1 - f0). Boxes always; polygons and polylines when both
  keyframes have as many points; keypoints point by point where both are labeled (visibility
  above 0). Whatever cannot be interpolated holds the earlier keyframe's value.
- Class, attributes, visibility and `occluded` hold from the earlier keyframe.
- After the last keyframe (not outside) the object stays where it was.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from aviary.contracts.shapes import (
    BoxShape,
    KeypointsShape,
    PolygonShape,
    PolylineShape,
    bounds,
)
from aviary.contracts.tracks import Keyframe, Track, TrackShape

# How much of the frames two clips share must agree for their tracks to be one object.
STITCH_MIN_IOU = 0.5

Box = tuple[float, float, float, float]  # x, y, width, height


@dataclass(frozen=True)
class TrackFrame:
    """A track's shape in one frame, drawn (`keyframe`) or interpolated."""

    frame: int
    shape: TrackShape
    keyframe: bool
    occluded: bool


def shape_at(track: Track, frame: int) -> TrackFrame | None:
    """The track's shape in `frame`, or None where the object is absent."""
    frames = [k.frame for k in track.keyframes]
    i = bisect.bisect_right(frames, frame) - 1
    if i < 0:
        return None
    before = track.keyframes[i]
    after = track.keyframes[i + 1] if i + 1 < len(track.keyframes) else None
    return _between(before, after, frame)


def frames_of(track: Track, start: int, stop: int) -> Iterator[TrackFrame]:
    """The track's shapes in frames start..stop-1, in order, where the object is present."""
    keys = track.keyframes
    i = max(0, bisect.bisect_right([k.frame for k in keys], start) - 1)
    for frame in range(max(start, keys[0].frame), stop):
        while i + 1 < len(keys) and keys[i + 1].frame <= frame:
            i += 1
        found = _between(keys[i], keys[i + 1] if i + 1 < len(keys) else None, frame)
        if found is not None:
            yield found


def _between(before: Keyframe, after: Keyframe | None, frame: int) -> TrackFrame | None:
    if before.outside:
        return None
    if frame == before.frame:
        return TrackFrame(frame, before.shape, keyframe=True, occluded=before.occluded)
    shape = before.shape
    if after is not None and not after.outside:
        t = (frame - before.frame) / (after.frame - before.frame)
        shape = interpolate(before.shape, after.shape, t)
    return TrackFrame(frame, shape, keyframe=False, occluded=before.occluded)


def interpolate(a: TrackShape, b: TrackShape, t: float) -> TrackShape:
    """The shape a fraction `t` of the way from `a` to `b` (both of one kind)."""
    if isinstance(a, BoxShape) and isinstance(b, BoxShape):
        box = tuple(_lerp(p, q, t) for p, q in zip(a.bbox, b.bbox, strict=True))
        turn = (b.rotation - a.rotation + 180) % 360 - 180  # the shorter way round
        return a.model_copy(update={"bbox": box, "rotation": (a.rotation + turn * t) % 360})
    if isinstance(a, PolygonShape | PolylineShape) and isinstance(b, PolygonShape | PolylineShape):
        if len(a.points) != len(b.points):
            return a
        points = tuple(
            (_lerp(p[0], q[0], t), _lerp(p[1], q[1], t))
            for p, q in zip(a.points, b.points, strict=True)
        )
        return a.model_copy(update={"points": points})
    if isinstance(a, KeypointsShape) and isinstance(b, KeypointsShape):
        if len(a.keypoints) != len(b.keypoints):
            return a
        moved = tuple(
            (_lerp(p[0], q[0], t), _lerp(p[1], q[1], t), p[2]) if p[2] and q[2] else p
            for p, q in zip(a.keypoints, b.keypoints, strict=True)
        )
        return a.model_copy(update={"keypoints": moved})
    return a


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def box_of(shape: TrackShape) -> Box | None:
    """The box around a shape (visible keypoints only); None when nothing is drawn."""
    if isinstance(shape, BoxShape):
        return shape.outer_box()
    if isinstance(shape, KeypointsShape):
        labeled: list[tuple[float, float]] = [(x, y) for x, y, v in shape.keypoints if v]
        return bounds(labeled) if labeled else None
    return bounds(shape.points)


def box_iou(a: Box | None, b: Box | None) -> float:
    if a is None or b is None:
        return 0.0
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else float(a == b)


# ----- clips -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """Frames start..stop-1 of an item: one task. Neighbouring clips share `overlap` frames."""

    index: int
    start: int
    stop: int


def plan_clips(frame_count: int, length: int, overlap: int) -> list[Clip]:
    """Cut `frame_count` frames into clips of `length` frames, each sharing `overlap` frames
    with the one before; the last may be shorter."""
    if length < 1 or not 0 <= overlap < length:
        raise ValueError(f"a clip of {length} frames cannot overlap by {overlap}")
    clips: list[Clip] = []
    start = 0
    while start < frame_count:
        stop = min(start + length, frame_count)
        clips.append(Clip(len(clips), start, stop))
        if stop == frame_count:
            break
        start += length - overlap
    return clips


def cut(track: Track, start: int, stop: int) -> Track | None:
    """The part of `track` in frames start..stop-1, as keyframes that give the same shapes
    there: its keyframes inside, and where it is present at either end without one, the
    interpolated shape made a keyframe (so a clip shows what the whole track shows). None
    when the object is absent from every frame of the span."""
    inside = [k for k in track.keyframes if start <= k.frame < stop]
    first, last = shape_at(track, start), shape_at(track, stop - 1)
    if first is not None and not first.keyframe:
        inside.insert(0, _keyframe(first))
    if last is not None and not last.keyframe and last.frame != start:
        inside.append(_keyframe(last))
    if not any(not k.outside for k in inside):
        return None
    while inside and inside[0].outside:  # leaving before it ever shows in the span
        inside.pop(0)
    return Track(track_id=track.track_id, keyframes=tuple(inside))


def _keyframe(at: TrackFrame) -> Keyframe:
    return Keyframe(frame=at.frame, shape=at.shape, occluded=at.occluded)


def boxes_over(track: Track, frames: range) -> dict[int, Box | None]:
    """The box around the track's shape in each frame of `frames` where it is present."""
    return {f.frame: box_of(f.shape) for f in frames_of(track, frames.start, frames.stop)}


def mean_iou(mine: dict[int, Box | None], theirs: dict[int, Box | None]) -> float:
    """Mean IoU over the frames where either is present (absence on one side counts as 0)."""
    present = mine.keys() | theirs.keys()
    if not present:
        return 0.0
    return sum(box_iou(mine.get(f), theirs.get(f)) for f in present) / len(present)


def agreement(a: Track, b: Track, frames: range) -> float:
    """Mean box IoU of two tracks over the frames where either is present (absence on one side
    counts as 0); 0 for tracks of different classes or kinds, or with no frame in `frames`."""
    if a.class_id != b.class_id or a.kind != b.kind:
        return 0.0
    return mean_iou(boxes_over(a, frames), boxes_over(b, frames))


def clip_unit(item_id: str, clip: int | None) -> str:
    """What is accepted and delivered as one: an image item, or one clip of a video."""
    return item_id if clip is None else f"{item_id}#{clip}"


def stitch(
    clips: Sequence[tuple[Clip, Sequence[Track]]], min_iou: float = STITCH_MIN_IOU
) -> list[Track]:
    """One item's tracks from its clips' (in clip order): a track of one clip continues a
    track of the clip before when they agree over the frames the two clips share.

    Each pair of neighbours is matched greedily, best agreement first. A continued track
    keeps the earlier clip's keyframes before the middle of the shared frames, the later
    clip's shape at the middle (as a keyframe) and its keyframes after. Tracks are named
    `<clip index>:<track id>` after the clip where they begin, so ids of different clips
    cannot collide.
    """
    done: list[Track] = []
    open_: list[Track] = []  # the tracks the previous clip ended with, stitched so far
    previous: Clip | None = None
    for clip, tracks in clips:
        named = [t.model_copy(update={"track_id": f"{clip.index}:{t.track_id}"}) for t in tracks]
        if previous is None or previous.stop <= clip.start:
            done.extend(open_)
            open_ = named
            previous = clip
            continue
        shared = range(clip.start, previous.stop)
        pairs = sorted(
            (
                (score, i, j)
                for i, earlier in enumerate(open_)
                for j, later in enumerate(named)
                if (score := agreement(earlier, later, shared)) >= min_iou
            ),
            reverse=True,
        )
        continued: dict[int, Track] = {}
        used: set[int] = set()
        for _, i, j in pairs:
            if i in continued or j in used:
                continue
            continued[i] = _join(open_[i], named[j], shared.start + len(shared) // 2)
            used.add(j)
        done.extend(t for i, t in enumerate(open_) if i not in continued)
        open_ = [*continued.values(), *(t for j, t in enumerate(named) if j not in used)]
        previous = clip
    return [*done, *open_]


def _join(earlier: Track, later: Track, middle: int) -> Track:
    keys = [k for k in earlier.keyframes if k.frame < middle]
    state = shape_at(later, middle)
    if state is not None:
        keys.append(Keyframe(frame=middle, shape=state.shape, occluded=state.occluded))
    elif gone := [k for k in later.keyframes if k.frame <= middle]:
        keys.append(gone[-1].model_copy(update={"frame": middle}))  # outside from the middle on
    keys.extend(k for k in later.keyframes if k.frame > middle)
    return earlier.model_copy(update={"keyframes": tuple(keys)})
