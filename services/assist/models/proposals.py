"""What a detector found, as shapes a project's people can accept, adjust or delete.

A detection's label goes through the manifest's `class_map` to a class of the project's
ontology by name; labels the map leaves out, and classes the project does not have, are
dropped, and so are detections under the model's `score_threshold` or the project's
`min_confidence`. The shape is the class's kind: a box for a box class, the outline of the
mask (or the box's corners, from a detector) for a polygon class, the mask (or the filled box)
for a mask class; other kinds are not proposed. Each shape's `source` names the model and its
score. A shape that would be refused from a person is left out too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aviary.contracts.assist import ModelManifest
from aviary.contracts.shapes import (
    Annotation,
    BoxShape,
    MaskShape,
    Ontology,
    OntologyClass,
    PolygonShape,
    Shape,
    ShapeSource,
)
from services.assist.models.imaging import BoolMask
from services.assist.models.runner import Detection
from shared.domain.annotation_rules import validate_annotation
from shared.domain.masks import encode, mask_to_polygon

PROPOSABLE = frozenset({"bbox", "polygon", "mask"})


def class_for(
    label: int, manifest: ModelManifest, classes: dict[str, OntologyClass]
) -> OntologyClass | None:
    if not 0 <= label < len(manifest.labels):
        return None
    name = manifest.class_map.get(manifest.labels[label])
    return None if name is None else classes.get(name)


def _box_mask(box: tuple[float, float, float, float], width: int, height: int) -> BoolMask:
    left, top, w, h = box
    mask = np.zeros((height, width), np.bool_)
    mask[round(top) : round(top + h), round(left) : round(left + w)] = True
    return mask


def shape_for(
    detection: Detection, cls: OntologyClass, source: ShapeSource, width: int, height: int
) -> Shape | None:
    left, top, w, h = detection.box
    if cls.kind == "bbox":
        return BoxShape(class_id=cls.id, bbox=(left, top, w, h), source=source)
    if cls.kind == "polygon":
        if detection.mask is not None:
            outline = mask_to_polygon(detection.mask)
            if outline is None:
                return None
            points = outline
        else:
            points = ((left, top), (left + w, top), (left + w, top + h), (left, top + h))
        return PolygonShape(class_id=cls.id, points=points, source=source)
    if cls.kind == "mask":
        mask = (
            detection.mask
            if detection.mask is not None
            else _box_mask(detection.box, width, height)
        )
        if not mask.any():
            return None
        return MaskShape(class_id=cls.id, rle=encode(mask), source=source)
    return None


def proposals(
    detections: Sequence[Detection],
    manifest: ModelManifest,
    ontology: Ontology,
    model_ref: str,
    min_confidence: float,
    width: int,
    height: int,
) -> list[Shape]:
    """The shapes to propose for an image of `width` x `height`, best first."""
    classes = {c.name: c for c in ontology.classes if c.kind in PROPOSABLE}
    threshold = max(manifest.score_threshold, min_confidence)
    shapes: list[Shape] = []
    for detection in detections:
        if detection.score < threshold:
            continue
        cls = class_for(detection.label, manifest, classes)
        if cls is None or detection.box[2] <= 0 or detection.box[3] <= 0:
            continue
        source = ShapeSource(by="model", model=model_ref, confidence=round(detection.score, 4))
        shape = shape_for(detection, cls, source, width, height)
        if shape is not None:
            shapes.append(shape)
    return valid_only(shapes, ontology, width, height)


def valid_only(shapes: Sequence[Shape], ontology: Ontology, width: int, height: int) -> list[Shape]:
    """The shapes that pass the rules a person's submission must (annotation_rules)."""
    faulty = {
        e.index
        for e in validate_annotation(Annotation(shapes=tuple(shapes)), ontology, width, height)
    }
    return [s for i, s in enumerate(shapes) if i not in faulty]


def lowest_confidence(shapes: Sequence[Shape]) -> float | None:
    """The least sure proposal's confidence (None when no shape carries one)."""
    values = [
        s.source.confidence
        for s in shapes
        if s.source is not None and s.source.confidence is not None
    ]
    return min(values) if values else None
