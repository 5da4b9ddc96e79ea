"""Checking an annotation against its ontology and image: submissions and pre-annotations.

Pure rules, shared by dispatch (submissions) and ingest (clients' pre-annotations), so both
refuse exactly the same things with the same codes. A video's tracks are held to the same
rules keyframe by keyframe.

A mask must be of the image's size, its counts a well-formed RLE covering exactly its pixels
(`invalid_rle`), with at least one pixel set. A shape's `source` says who made it: a shape by a
model, kept or edited, names the model; one drawn by hand names none and has no confidence
(`invalid_source`). Whether a model really proposed it is not for these rules to know.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shapely.geometry import LinearRing

from aviary.contracts.shapes import (
    Annotation,
    BoxShape,
    KeypointsShape,
    MaskShape,
    Ontology,
    OntologyClass,
    PolygonShape,
    PolylineShape,
    Shape,
    polygon_area,
)
from aviary.contracts.tracks import TrackAnnotation
from shared.domain import masks
from shared.errors import AppError


@dataclass(frozen=True)
class ShapeError:
    index: int
    code: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"shape": self.index, "code": self.code, "message": self.message}


def _inside(x: float, y: float, width: int, height: int, slack: float = 0.0) -> bool:
    return -slack <= x <= width + slack and -slack <= y <= height + slack


def _geometry_errors(shape: Shape, cls: OntologyClass, width: int, height: int) -> list[str]:
    """Problems with a shape's geometry, as (code: message) strings."""
    if isinstance(shape, BoxShape):
        x, y, w, h = shape.bbox
        if w <= 0 or h <= 0:
            return ["empty_box: box width and height must be > 0"]
        # A turned box is inside when its corners are (a hair of rounding allowed).
        if not all(_inside(cx, cy, width, height, 1e-6) for cx, cy in shape.corners()):
            turned = f" turned {shape.rotation:g}°" if shape.rotation else ""
            return [
                f"outside_image: box [{x:g}, {y:g}, {w:g}, {h:g}]{turned} is not inside the "
                f"{width}x{height} image"
            ]
    elif isinstance(shape, PolygonShape | PolylineShape):
        outside = [i for i, (x, y) in enumerate(shape.points) if not _inside(x, y, width, height)]
        if outside:
            return [f"outside_image: points {outside[:10]} are outside the {width}x{height} image"]
        if isinstance(shape, PolygonShape) and polygon_area(shape.points) <= 0:
            return ["degenerate_polygon: the polygon has no area"]
        if isinstance(shape, PolygonShape) and not LinearRing(shape.points).is_simple:
            # A bow tie has an area but no inside that exports and IoU can agree on.
            return ["self_intersecting: the polygon's edges cross each other"]
    elif isinstance(shape, KeypointsShape):
        expected = len(cls.skeleton.keypoints) if cls.skeleton else 0
        if len(shape.keypoints) != expected:
            return [
                f"keypoint_count: the skeleton has {expected} keypoints, got {len(shape.keypoints)}"
            ]
        outside = [
            i
            for i, (x, y, v) in enumerate(shape.keypoints)
            if v and not _inside(x, y, width, height)
        ]
        if outside:
            return [f"outside_image: keypoints {outside} are outside the {width}x{height} image"]
    elif isinstance(shape, MaskShape):
        return _mask_errors(shape, width, height)
    return []


def _mask_errors(shape: MaskShape, width: int, height: int) -> list[str]:
    rows, columns = shape.rle.size
    if (rows, columns) != (height, width):
        return [
            f"mask_size: the mask is {columns}x{rows} pixels, the image {width}x{height} "
            "(rle.size is height, width)"
        ]
    try:
        pixels = masks.area(shape.rle)
    except masks.RleError as e:
        return [f"invalid_rle: {e}"]
    if pixels == 0:
        return ["empty_mask: the mask has no pixel set"]
    return []


def _source_errors(shape: Shape) -> list[str]:
    source = shape.source
    if source is None:
        return []
    if source.by != "human" and source.model is None:
        return [f"invalid_source: a shape by a model ({source.by}) names the model"]
    if source.by == "human" and (source.model is not None or source.confidence is not None):
        return ["invalid_source: a shape drawn by hand names no model and has no confidence"]
    return []


def _attribute_errors(shape: Shape, cls: OntologyClass) -> list[str]:
    specs = {a.name: a for a in cls.attributes}
    errors = [
        f"unknown_attribute: {name!r} is not an attribute of {cls.name}"
        for name in shape.attributes
        if name not in specs
    ]
    for spec in cls.attributes:
        value = shape.attributes.get(spec.name)
        if value is None:
            if spec.required:
                errors.append(f"missing_attribute: {spec.name!r} is required for {cls.name}")
        elif spec.type == "boolean" and not isinstance(value, bool):
            errors.append(f"invalid_attribute: {spec.name!r} must be true or false")
        elif spec.type == "enum" and value not in spec.options:
            errors.append(f"invalid_attribute: {spec.name!r} must be one of {list(spec.options)}")
        elif spec.type == "text" and not isinstance(value, str):
            errors.append(f"invalid_attribute: {spec.name!r} must be text")
    return errors


def _numbers(shape: Shape) -> list[float]:
    if isinstance(shape, BoxShape):
        return list(shape.bbox)
    if isinstance(shape, PolygonShape | PolylineShape):
        return [c for p in shape.points for c in p]
    if isinstance(shape, KeypointsShape):
        return [c for k in shape.keypoints for c in k[:2]]
    return []


def validate_annotation(
    annotation: Annotation, ontology: Ontology, width: int, height: int
) -> list[ShapeError]:
    """Every problem with a submission, each naming the shape at fault and why."""
    errors: list[ShapeError] = []
    for index, shape in enumerate(annotation.shapes):
        cls = ontology.class_by_id(shape.class_id)
        if cls is None:
            errors.append(
                ShapeError(index, "unknown_class", f"class {shape.class_id} is not in the ontology")
            )
            continue
        if shape.kind != cls.kind:
            errors.append(
                ShapeError(
                    index,
                    "wrong_kind",
                    f"class {cls.name} takes {cls.kind} shapes, not {shape.kind}",
                )
            )
            continue
        if not all(math.isfinite(v) for v in _numbers(shape)):
            errors.append(ShapeError(index, "not_finite", "coordinates must be finite numbers"))
            continue
        problems = (
            _geometry_errors(shape, cls, width, height)
            + _attribute_errors(shape, cls)
            + _source_errors(shape)
        )
        for problem in problems:
            code, _, message = problem.partition(": ")
            errors.append(ShapeError(index, code, message))
    return errors


def require_valid_annotation(
    annotation: Annotation,
    ontology: Ontology,
    width: int,
    height: int,
    *,
    code: str = "invalid_annotation",
    what: str = "shape(s)",
) -> None:
    """422 `code` listing every shape at fault, if any is."""
    errors = validate_annotation(annotation, ontology, width, height)
    if errors:
        raise AppError(
            code,
            f"{len(errors)} {what} are invalid",
            status_code=422,
            details=[e.as_dict() for e in errors],
        )


def require_valid_tracks(
    tracks: TrackAnnotation, ontology: Ontology, width: int, height: int, frames: range
) -> None:
    """422 `invalid_tracks` listing every keyframe at fault: outside the clip's `frames`, or a
    shape that would be refused in a still image of the video's size."""
    problems: list[dict[str, object]] = []
    for track in tracks.tracks:
        for key in track.keyframes:
            where = {"track": track.track_id, "frame": key.frame}
            if key.frame not in frames:
                problems.append(
                    {
                        **where,
                        "code": "frame_outside_clip",
                        "message": f"the clip holds frames {frames.start}..{frames.stop - 1}",
                    }
                )
                continue
            for error in validate_annotation(
                Annotation(shapes=(key.shape,)), ontology, width, height
            ):
                problems.append({**where, "code": error.code, "message": error.message})
    if problems:
        raise AppError(
            "invalid_tracks",
            f"{len(problems)} keyframe(s) are invalid",
            status_code=422,
            details=problems[:500],
        )
