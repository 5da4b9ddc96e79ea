"""Ontologies and annotations: the value objects events carry between services.

Coordinates are image pixels in the displayed orientation (EXIF rotation applied), origin at
the top-left corner. A shape's `kind` must match its class's geometry kind.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

GeometryKind = Literal["bbox", "polygon", "polyline", "keypoints", "classification", "mask"]
AttributeValue = str | bool
Point = tuple[float, float]
MAX_POINTS = 10_000


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Skeleton(Frozen):
    """Named keypoints, in order, and the edges between them (1-based indexes, as in COCO)."""

    keypoints: tuple[str, ...] = Field(min_length=1, max_length=200)
    edges: tuple[tuple[int, int], ...] = ()


class AttributeSpec(Frozen):
    name: str = Field(min_length=1, max_length=100)
    type: Literal["enum", "boolean", "text"]
    options: tuple[str, ...] = ()
    required: bool = False


class OntologyClass(Frozen):
    id: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=100)
    kind: GeometryKind = "bbox"
    skeleton: Skeleton | None = None
    attributes: tuple[AttributeSpec, ...] = ()
    # How pages draw the class (`#rrggbb`); left out, a colour of the pages' palette by its id.
    colour: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    # Its boxes mark what to blur (a face or plate the detector missed): a project whose
    # redaction is `everyone` delivers its pictures blurred there too.
    redact: bool = False
    # What a person must know to draw this class right: shown in training where they did not.
    guideline: str = Field(default="", max_length=5000)


class Ontology(Frozen):
    # None only in an audio project (its segments are described by its `audio` settings).
    classes: tuple[OntologyClass, ...] = Field(default=(), max_length=1000)

    def class_by_id(self, class_id: int) -> OntologyClass | None:
        return next((c for c in self.classes if c.id == class_id), None)


class ShapeSource(Frozen):
    """How a shape was made: by hand, proposed by a model (`model` is `name@version`, or
    `endpoint:<name>` for a client's model endpoint) and kept as proposed, or proposed and
    then edited by hand. A shape without a source was drawn by hand."""

    by: Literal["human", "model", "model_edited"] = "human"
    model: str | None = Field(default=None, min_length=1, max_length=200)
    confidence: float | None = Field(default=None, ge=0, le=1)


class ShapeBase(Frozen):
    class_id: int = Field(ge=1)
    attributes: dict[str, AttributeValue] = Field(default_factory=dict, max_length=100)
    source: ShapeSource | None = None


class BoxShape(ShapeBase):
    """A box: left, top, width and height before it turns; `rotation` turns it clockwise
    about its centre, in degrees, as CVAT keeps rotated boxes (0: axis-aligned)."""

    kind: Literal["bbox"] = "bbox"
    bbox: tuple[float, float, float, float]
    rotation: float = Field(default=0.0, ge=0, lt=360)

    def corners(self) -> tuple[Point, Point, Point, Point]:
        """Its corners as drawn, clockwise from the one that was top-left before turning."""
        x, y, w, h = self.bbox
        if not self.rotation:
            return ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
        cx, cy = x + w / 2, y + h / 2
        cos, sin = math.cos(math.radians(self.rotation)), math.sin(math.radians(self.rotation))
        turned = [
            (cx + dx * cos - dy * sin, cy + dx * sin + dy * cos)
            for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))
        ]
        return (turned[0], turned[1], turned[2], turned[3])

    def outer_box(self) -> tuple[float, float, float, float]:
        """The axis-aligned box around it (itself when it does not turn): what formats
        without rotation (COCO, YOLO, VOC, KITTI) are given."""
        return self.bbox if not self.rotation else bounds(self.corners())


class PolygonShape(ShapeBase):
    """A closed outline (segmentation), at least three points."""

    kind: Literal["polygon"] = "polygon"
    points: tuple[Point, ...] = Field(min_length=3, max_length=MAX_POINTS)


class PolylineShape(ShapeBase):
    """An open line (lane markings, curbs), at least two points. A `smooth` line is a curve
    through its points (a lane's bend): formats are given the curve as points (`line`)."""

    kind: Literal["polyline"] = "polyline"
    points: tuple[Point, ...] = Field(min_length=2, max_length=MAX_POINTS)
    smooth: bool = False

    def line(self) -> tuple[Point, ...]:
        """The points the line passes through as drawn: the curve's, for a smooth line."""
        return curve_points(self.points) if self.smooth else self.points


class KeypointsShape(ShapeBase):
    """One (x, y, visibility) per skeleton keypoint, in skeleton order.

    Visibility as in COCO: 0 not labeled (x = y = 0), 1 labeled but hidden, 2 visible.
    """

    kind: Literal["keypoints"] = "keypoints"
    keypoints: tuple[tuple[float, float, Literal[0, 1, 2]], ...] = Field(
        min_length=1, max_length=200
    )


class ClassificationShape(ShapeBase):
    """An image-level class: no geometry."""

    kind: Literal["classification"] = "classification"


class Rle(Frozen):
    """A binary mask as COCO writes it: `size` is (height, width); `counts` the run lengths,
    column by column starting with a run of zeros, either as COCO's compressed string or as
    a list of numbers (COCO's uncompressed form)."""

    size: tuple[int, int]
    counts: str | tuple[int, ...] = Field(max_length=4_000_000)


class MaskShape(ShapeBase):
    """A pixel mask of one object, the size of the whole image (run-length encoded)."""

    kind: Literal["mask"] = "mask"
    rle: Rle


def shape_kind(value: Any) -> str:
    # Boxes predate the other kinds: a shape without `kind` is a box.
    if isinstance(value, dict):
        return str(value.get("kind", "bbox"))
    return str(getattr(value, "kind", "bbox"))


Shape = Annotated[
    Annotated[BoxShape, Tag("bbox")]
    | Annotated[PolygonShape, Tag("polygon")]
    | Annotated[PolylineShape, Tag("polyline")]
    | Annotated[KeypointsShape, Tag("keypoints")]
    | Annotated[ClassificationShape, Tag("classification")]
    | Annotated[MaskShape, Tag("mask")],
    Discriminator(shape_kind),
]


class Annotation(Frozen):
    shapes: tuple[Shape, ...] = Field(default=(), max_length=5000)


def turned_box(
    corner: Point, width: float, height: float, rotation: float
) -> tuple[tuple[float, float, float, float], float]:
    """The (bbox, rotation) of a box of this size turned `rotation` degrees clockwise whose
    top-left corner, once turned, is at `corner` (Label Studio's form; a COCO outline's first
    corner)."""
    if not rotation % 360:  # a whole turn is none: the box exactly as given
        return (corner[0], corner[1], width, height), 0.0
    cos, sin = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
    cx = corner[0] + width / 2 * cos - height / 2 * sin
    cy = corner[1] + width / 2 * sin + height / 2 * cos
    return (cx - width / 2, cy - height / 2, width, height), rotation % 360


CURVE_STEPS = 8  # points a smooth line's curve is drawn with between two of its points


def curve_points(points: tuple[Point, ...], steps: int = CURVE_STEPS) -> tuple[Point, ...]:
    """A Catmull-Rom curve through `points` (uniform, the ends repeated), `steps` points per
    span, passing through every given point: the labeling page draws the same curve
    (web/common/geometry.js `curvePoints`)."""
    if len(points) < 3:
        return points
    padded = (points[0], *points, points[-1])
    out: list[Point] = [points[0]]
    for i in range(1, len(padded) - 2):
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = padded[i - 1 : i + 3]
        for step in range(1, steps + 1):
            t = step / steps
            t2, t3 = t * t, t * t * t
            out.append(
                (
                    0.5
                    * (
                        2 * x1
                        + (x2 - x0) * t
                        + (2 * x0 - 5 * x1 + 4 * x2 - x3) * t2
                        + (3 * x1 - x0 - 3 * x2 + x3) * t3
                    ),
                    0.5
                    * (
                        2 * y1
                        + (y2 - y0) * t
                        + (2 * y0 - 5 * y1 + 4 * y2 - y3) * t2
                        + (3 * y1 - y0 - 3 * y2 + y3) * t3
                    ),
                )
            )
    return tuple(out)


def bounds(points: tuple[Point, ...] | list[Point]) -> tuple[float, float, float, float]:
    """The box (x, y, w, h) around some points."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def polygon_area(points: tuple[Point, ...] | list[Point]) -> float:
    """Area of a simple polygon (shoelace formula)."""
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, (*points[1:], points[0]), strict=True):
        total += x1 * y2 - x2 * y1
    return abs(total) / 2
