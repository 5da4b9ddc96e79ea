"""A CVAT for video file's box tracks onto a project's ontology and a video item's frames.

Labels map to classes as images' shapes do (`mapping.classes_for`), and a track's class must
take boxes. A track keeps the boxes CVAT marks `keyframe` (what a person drew) and those where
the object leaves (`outside`); CVAT's boxes in between are its own interpolation, the same
linear one Aviary does (a track with no keyframe marks keeps every box). Frames go through
`frames`, CVAT's frame number to the item's (the item may keep fewer frames than the video
has); two keyframes landing on one frame keep the earlier. Anything that does not fit refuses
the whole file, as for images: nothing is half-imported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from aviary.contracts.shapes import BoxShape, Ontology, OntologyClass, ShapeSource
from aviary.contracts.tracks import Keyframe, Track, TrackAnnotation
from aviary.interop.cvat import ForeignTrack, TrackBox, TrackSet
from aviary.interop.mapping import (
    EDGE_SLACK_PX,
    Report,
    attributes_for,
    classes_for,
    reason,
)

FrameMap = Callable[[int], int | None]  # CVAT's frame -> the item's, None: not in the item


@dataclass
class MappedTracks:
    report: Report
    annotation: TrackAnnotation | None  # None when the report refuses (or was not kept)


def map_tracks(
    found: TrackSet,
    ontology: Ontology,
    rename: Mapping[str, str | None] | None = None,
    frames: FrameMap | None = None,
    size: tuple[int, int] | None = None,
    source_model: str | None = None,
) -> MappedTracks:
    """The file's tracks for the item: each box proposed by `source_model` (None: as known
    answers). `size` (width, height) bounds the boxes; `frames` maps frame numbers (identity
    by default)."""
    report = Report("cvat", images=1, notes=list(found.notes))
    labels = sorted({t.label for t in found.tracks})
    classes = classes_for(labels, ontology, rename or {}, report)
    tracks = []
    for foreign in found.tracks:
        track = _track(foreign, classes, frames or _same, size, source_model, report)
        if track is not None:
            tracks.append(track)
    try:
        annotation = TrackAnnotation(tracks=tuple(tracks))
    except ValidationError as exc:
        report.refused.append(f"the tracks: {reason(exc)}")
    return MappedTracks(report, annotation if report.ok else None)


def _same(frame: int) -> int:
    return frame


def _track(
    foreign: ForeignTrack,
    classes: dict[str, OntologyClass | None],
    frames: FrameMap,
    size: tuple[int, int] | None,
    source_model: str | None,
    report: Report,
) -> Track | None:
    if foreign.label not in classes:
        return None  # refused with its label already
    cls = classes[foreign.label]
    if cls is None:
        return None
    where = f"track {foreign.id} ({foreign.label!r})"
    if cls.kind != "bbox":
        report.refused.append(f"{where}: boxes cannot be a {cls.kind} of class {cls.name!r}")
        return None
    marked = any(b.keyframe for b in foreign.boxes)
    kept = [b for b in foreign.boxes if b.keyframe or b.outside or not marked]
    keyframes: dict[int, Keyframe] = {}
    source = ShapeSource(by="model", model=source_model) if source_model else None
    for box in kept:
        frame = frames(box.frame)
        if frame is None:
            report.refused.append(f"{where}: frame {box.frame} is not a frame of the video")
            return None
        if frame in keyframes:
            report.notes.append(f"{where}: two keyframes on frame {frame}; the earlier kept")
            continue
        if not _inside(box, size):
            report.refused.append(f"{where}: the box on frame {box.frame} lies off the video")
            return None
        try:
            shape = BoxShape(
                class_id=cls.id,
                bbox=box.bbox,
                attributes=attributes_for(box.attributes, cls, report),
                source=source,
            )
        except ValidationError as exc:
            report.refused.append(f"{where}, frame {box.frame}: {reason(exc)}")
            return None
        keyframes[frame] = Keyframe(
            frame=frame, shape=shape, outside=box.outside, occluded=box.occluded
        )
    if not keyframes:
        return None
    report.shapes += len(keyframes)
    report.labels[foreign.label].shapes += len(keyframes)
    try:
        return Track(track_id=f"cvat-{foreign.id}", keyframes=tuple(keyframes.values()))
    except ValidationError as exc:
        report.refused.append(f"{where}: {reason(exc)}")
        return None


def _inside(box: TrackBox, size: tuple[int, int] | None) -> bool:
    x, y, w, h = box.bbox
    if not all(math.isfinite(v) for v in box.bbox) or w < 0 or h < 0:
        return False
    if size is None:
        return True
    width, height = size
    return (
        x >= -EDGE_SLACK_PX
        and x + w <= width + EDGE_SLACK_PX
        and y >= -EDGE_SLACK_PX
        and y + h <= height + EDGE_SLACK_PX
    )
