"""Ontologies and annotations: the value objects events carry between services.

Coordinates are image pixels in the displayed orientation (EXIF rotation applied), origin at
the top-left corner. A shape's `kind` must match its class's geometry kind.
"""

from __future__ import annotations

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
    """An axis-aligned box: left, top, width, height."""

    kind: Literal["bbox"] = "bbox"
    bbox: tuple[float, float, float, float]


class PolygonShape(ShapeBase):
    """A closed outline (segmentation), at least three points."""

    kind: Literal["polygon"] = "polygon"
    points: tuple[Point, ...] = Field(min_length=3, max_length=MAX_POINTS)


class PolylineShape(ShapeBase):
    """An open line (lane markings, curbs), at least two points."""

    kind: Literal["polyline"] = "polyline"
    points: tuple[Point, ...] = Field(min_length=2, max_length=MAX_POINTS)


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
