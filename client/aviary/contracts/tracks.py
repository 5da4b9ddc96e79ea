"""Tracks: one object followed through the frames of a video or an image sequence.

A track holds keyframes, the frames a person (or a tracker the person accepted) drew; the frames
between two keyframes are interpolated (`shared/domain/tracks.py` on the server, `tracks.js` in
the browser, by the same formula). Frame numbers are indexes into the item's sampled frames, the
same in every clip of one video, so clips need no conversion when their tracks are stitched.

A keyframe's shape carries the class and the attributes as they are from that frame on (an
attribute may change over time: a pedestrian starts `walking`, then `standing`). `outside` marks
the frame from which the object has left the view, until the next keyframe that is not outside;
`occluded` marks it as present but hidden.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated

from pydantic import Discriminator, Field, Tag, model_validator

from aviary.contracts.shapes import (
    BoxShape,
    Frozen,
    KeypointsShape,
    PolygonShape,
    PolylineShape,
    shape_kind,
)

MAX_KEYFRAMES = 100_000
MAX_TRACKS = 5_000

TrackShape = Annotated[
    Annotated[BoxShape, Tag("bbox")]
    | Annotated[PolygonShape, Tag("polygon")]
    | Annotated[PolylineShape, Tag("polyline")]
    | Annotated[KeypointsShape, Tag("keypoints")],
    Discriminator(shape_kind),
]


class Keyframe(Frozen):
    frame: int = Field(ge=0)
    shape: TrackShape
    outside: bool = False
    occluded: bool = False


class Track(Frozen):
    track_id: str = Field(min_length=1, max_length=100)
    keyframes: tuple[Keyframe, ...] = Field(min_length=1, max_length=MAX_KEYFRAMES)

    @model_validator(mode="after")
    def _one_object(self) -> Track:
        frames = [k.frame for k in self.keyframes]
        if any(b <= a for a, b in pairwise(frames)):
            raise ValueError("keyframes must be in increasing frame order, one per frame")
        first = self.keyframes[0].shape
        for key in self.keyframes[1:]:
            if key.shape.kind != first.kind or key.shape.class_id != first.class_id:
                raise ValueError(
                    f"frame {key.frame}: a track keeps one class and one geometry kind "
                    f"({first.kind} of class {first.class_id})"
                )
        return self

    @property
    def class_id(self) -> int:
        return self.keyframes[0].shape.class_id

    @property
    def kind(self) -> str:
        return self.keyframes[0].shape.kind


class TrackAnnotation(Frozen):
    """What an annotator submits for a clip: its tracks, in frames of the whole item."""

    tracks: tuple[Track, ...] = Field(default=(), max_length=MAX_TRACKS)

    @model_validator(mode="after")
    def _distinct_ids(self) -> TrackAnnotation:
        ids = [t.track_id for t in self.tracks]
        if len(set(ids)) != len(ids):
            raise ValueError("track ids must be unique within an annotation")
        return self
