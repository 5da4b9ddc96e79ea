"""A foreign annotation set onto a project's ontology: which label becomes which class, what
does not fit, and the annotations that result, all or nothing.

A label maps to the class of the same name (or, failing that, the one class whose name differs
only in case), or to the class `rename` names for it; `rename[label] = None` leaves the label
out on purpose. A shape fits its class when the kinds are the same, or when a polygon meets a
box class (its bounds are taken, and the report says how often). A keypoint shape fits when it
has as many points as the class's skeleton (reordered by name when the file names them).
Anything else refuses the whole set: the report lists every refusal, and no annotation is
given out, so nothing is half-imported. Attributes the class does not declare (or values its
options do not hold) are left out and counted.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from aviary.contracts.shapes import (
    Annotation,
    AttributeValue,
    Ontology,
    OntologyClass,
    Shape,
    ShapeSource,
    bounds,
)
from aviary.interop.foreign import ForeignImage, ForeignSet, ForeignShape

_SHAPE: TypeAdapter[Shape] = TypeAdapter(Shape)
# How far outside the image a coordinate may lie (tools round, and some write the far edge).
EDGE_SLACK_PX = 1.0


@dataclass
class LabelReport:
    label: str
    class_name: str | None  # None: left out on purpose
    shapes: int = 0
    converted: int = 0  # polygons taken as their box


@dataclass
class Report:
    """What the import would do (or did): per label, refusals, and what was left out."""

    format: str
    images: int = 0
    shapes: int = 0
    labels: dict[str, LabelReport] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dropped_attributes: int = 0

    @property
    def ok(self) -> bool:
        return not self.refused

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "ok": self.ok,
            "images": self.images,
            "shapes": self.shapes,
            "labels": [vars(r) for r in self.labels.values()],
            "refused": self.refused,
            "notes": self.notes,
            "dropped_attributes": self.dropped_attributes,
        }


@dataclass
class Mapped:
    report: Report
    annotations: dict[str, Annotation]  # by image name; empty when the report refuses


def map_onto(
    foreign: ForeignSet,
    ontology: Ontology,
    rename: Mapping[str, str | None] | None = None,
    source_model: str | None = None,
    keep: bool = True,
) -> Mapped:
    """The set's annotations for `ontology`, each shape's source naming `source_model` (a
    pre-label: people see it as a proposal) or none (gold, or work taken as done). With
    `keep` False every annotation is made and checked, then let go: the report alone."""
    report = Report(foreign.format, notes=list(foreign.notes))
    labels = sorted({s.label for image in foreign.images for s in image.shapes})
    classes = classes_for(labels, ontology, rename or {}, report)
    annotations: dict[str, Annotation] = {}
    names: set[str] = set()
    for image in foreign.images:
        report.images += 1
        if image.name in names:
            report.refused.append(f"{image.name}: two images of the file have this name")
            continue
        names.add(image.name)
        shapes = [
            shape
            for found in image.shapes
            if (shape := _shape(found, image, classes, foreign, report, source_model)) is not None
        ]
        report.shapes += len(shapes)
        try:
            annotation = Annotation(shapes=tuple(shapes))
        except ValidationError as exc:
            report.refused.append(f"{image.name}: {reason(exc)}")
            continue
        if keep:
            annotations[image.name] = annotation
    return Mapped(report, annotations if report.ok else {})


def classes_for(
    labels: Sequence[str],
    ontology: Ontology,
    rename: Mapping[str, str | None],
    report: Report,
) -> dict[str, OntologyClass | None]:
    """Each label's class (None: left out on purpose); unknown labels are refused."""
    by_name = {c.name: c for c in ontology.classes}
    folded = Counter(c.name.casefold() for c in ontology.classes)
    for label in rename:
        if label not in labels:
            report.notes.append(f"the mapping names {label!r}, which the file does not use")
    classes: dict[str, OntologyClass | None] = {}
    for label in labels:
        wanted = rename.get(label, label) if label in rename else label
        if wanted is None:
            classes[label] = None
            report.labels[label] = LabelReport(label, None)
            continue
        found = by_name.get(wanted)
        if found is None and folded[wanted.casefold()] == 1:
            found = next(c for c in ontology.classes if c.name.casefold() == wanted.casefold())
        if found is None:
            report.refused.append(
                f"label {label!r}: the ontology has no class {wanted!r}"
                f" (map it to a class, or leave it out with {label}=)"
            )
            continue
        classes[label] = found
        report.labels[label] = LabelReport(label, found.name)
    return classes


def _shape(
    found: ForeignShape,
    image: ForeignImage,
    classes: dict[str, OntologyClass | None],
    foreign: ForeignSet,
    report: Report,
    source_model: str | None,
) -> Shape | None:
    if found.label not in classes:
        return None  # refused with its label already
    cls = classes[found.label]
    if cls is None:
        return None
    where = f"{image.name}: a {found.kind} of {found.label!r}"
    body: dict[str, Any] = {"kind": cls.kind, "class_id": cls.id}
    if found.kind == cls.kind or (found.kind == "polygon" and cls.kind == "bbox"):
        geometry = _geometry(found, cls, foreign, where, report)
        if geometry is None:
            return None
        body |= geometry
    else:
        report.refused.append(f"{where} cannot be a {cls.kind} of class {cls.name!r}")
        return None
    if not _inside(found, image):
        report.refused.append(f"{where} lies outside the {image.width}x{image.height} image")
        return None
    body["attributes"] = attributes_for(found.attributes, cls, report)
    if source_model is not None:
        body["source"] = ShapeSource(by="model", model=source_model, confidence=found.score)
    try:
        shape = _SHAPE.validate_python(body)
    except ValidationError as exc:
        report.refused.append(f"{where}: {reason(exc)}")
        return None
    report.labels[found.label].shapes += 1
    return shape


def _geometry(
    found: ForeignShape,
    cls: OntologyClass,
    foreign: ForeignSet,
    where: str,
    report: Report,
) -> dict[str, Any] | None:
    if cls.kind == "bbox" and found.kind == "polygon":
        report.labels[found.label].converted += 1
        return {"bbox": bounds(found.points)}
    if found.kind == "bbox":
        return {"bbox": found.bbox, "rotation": found.rotation}
    if found.kind in ("polygon", "polyline"):
        return {"points": found.points}
    if found.kind == "mask":
        return {"rle": found.rle}
    if found.kind == "keypoints":
        keypoints = _in_skeleton_order(found, cls, foreign.skeletons.get(found.label))
        if keypoints is None:
            wanted = len(cls.skeleton.keypoints) if cls.skeleton else 0
            report.refused.append(
                f"{where} has {len(found.keypoints)} keypoints; class {cls.name!r} has {wanted}"
            )
            return None
        return {"keypoints": keypoints}
    return {}  # a classification


def _in_skeleton_order(
    found: ForeignShape, cls: OntologyClass, names: tuple[str, ...] | None
) -> tuple[Any, ...] | None:
    """The keypoints in the class's skeleton order, or None when they do not fit it."""
    skeleton = cls.skeleton.keypoints if cls.skeleton else ()
    if len(found.keypoints) != len(skeleton):
        return None
    if names and set(names) == set(skeleton) and len(names) == len(found.keypoints):
        by_name = dict(zip(names, found.keypoints, strict=True))
        return tuple(by_name[n] for n in skeleton)
    return found.keypoints


def _inside(found: ForeignShape, image: ForeignImage) -> bool:
    """Whether the shape's coordinates lie on the image (unknown size: nothing to check)."""
    if image.width is None or image.height is None:
        return True
    xs: list[float] = []
    ys: list[float] = []
    if found.bbox is not None:
        x, y, w, h = found.bbox
        xs += [x, x + w]
        ys += [y, y + h]
    xs += [p[0] for p in found.points] + [k[0] for k in found.keypoints if k[2] > 0]
    ys += [p[1] for p in found.points] + [k[1] for k in found.keypoints if k[2] > 0]
    if found.rle is not None and tuple(found.rle.size) != (image.height, image.width):
        return False
    if not all(math.isfinite(v) for v in xs + ys):
        return False
    return all(-EDGE_SLACK_PX <= x <= image.width + EDGE_SLACK_PX for x in xs) and all(
        -EDGE_SLACK_PX <= y <= image.height + EDGE_SLACK_PX for y in ys
    )


def attributes_for(
    given: Mapping[str, AttributeValue], cls: OntologyClass, report: Report
) -> dict[str, AttributeValue]:
    """The attributes the class declares, with values it allows; the rest counted as dropped."""
    specs = {a.name: a for a in cls.attributes}
    kept: dict[str, AttributeValue] = {}
    for name, value in given.items():
        spec = specs.get(name)
        fits = spec is not None and (
            (spec.type == "boolean" and isinstance(value, bool))
            or (spec.type == "text" and isinstance(value, str))
            or (spec.type == "enum" and value in spec.options)
        )
        if fits:
            kept[name] = value
        else:
            report.dropped_attributes += 1
    return kept


def reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    place = ".".join(str(part) for part in first["loc"])
    return f"{first['msg']}" + (f" ({place})" if place else "")
