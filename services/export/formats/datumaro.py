"""Datumaro: `datumaro/annotations/default.json`, Datumaro's own JSON format (1.0), one subset
("default"), streamed through a part file in the work directory.

The document is what Datumaro 1.x's `datumaro` exporter writes and its importer reads:

    {"dm_format_version": "1.0", "media_type": 2, "infos": {...},
     "categories": {"label": {"labels": [{"name", "parent": "", "attributes": [...]}],
                              "label_groups": [], "attributes": [...]},
                    "points": {"items": [{"label_id", "labels", "joints", "positions": []}]}},
     "items": [{"id", "annotations": [...], "attr": {...}, "image": {"path", "size": [h, w]}}]}

Labels are every class of the ontology, in ontology order: a class's `label_id` is its
0-based position (as YOLO's index). A label's `attributes` are the names its class's attribute
specs declare; the set's `attributes` are the provenance names used (below). Keypoint classes
have a `points` category: keypoint names in skeleton order and `joints` the skeleton's edges,
1-based as COCO has them (and as Datumaro keeps them when it reads COCO).

An item is the image: `id` the item id, `image.path` its file in the package's `images/`
(Datumaro looks for it under `datumaro/images/`), `attr` the client's file name, the ontology
version and when the item was accepted. Every shape becomes an annotation with an `id` (1, 2, ...
across the package), `group` 0 and `z_order` 0 (Aviary has neither), and these types:

- bbox: `bbox` [x, y, w, h]; polygon and polyline: `points` [x1, y1, x2, y2, ...];
- keypoints: type `points`, `points` as above (an unlabeled keypoint is at 0, 0) and
  `visibility` per keypoint, 0 absent, 1 hidden, 2 visible (Datumaro's values are COCO's);
- mask: `rle` {counts, size [h, w]}, COCO's compressed counts (Datumaro decodes them with
  pycocotools), whatever form the mask came in;
- classification: type `label`, no geometry.

`attributes` holds the shape's attributes and where it came from: `source` (human, model,
model_edited), `model` (name@version) and `score` (the model's confidence), each only when it was
recorded (a shape without a source was drawn by hand). A shape attribute with one of those names
keeps it; the provenance value then goes under `aviary_source` / `aviary_model` /
`aviary_score`.

Left out (and so not in `written`): shapes of a class that is not in the package's ontology, and
keypoints drawn against another skeleton (another number of keypoints), as in COCO.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aviary.contracts.shapes import (
    BoxShape,
    ClassificationShape,
    KeypointsShape,
    MaskShape,
    OntologyClass,
    PolygonShape,
    PolylineShape,
    Shape,
)
from services.export.formats.model import PackageItem, PackageSpec
from services.export.formats.partfile import PartFile
from services.export.formats.zipsink import ZipSink
from shared.domain import masks

PATH = "datumaro/annotations/default.json"
FORMAT_VERSION = "1.0"
MEDIA_IMAGE = 2  # Datumaro's MediaType.IMAGE
# Provenance attributes, by the ShapeSource field they come from.
PROVENANCE = (("by", "source"), ("model", "model"), ("confidence", "score"))
_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def label_entry(cls: OntologyClass) -> dict[str, Any]:
    # Datumaro keeps a label's attribute names as a set and writes them sorted.
    return {"name": cls.name, "parent": "", "attributes": sorted(a.name for a in cls.attributes)}


def points_entry(label_id: int, cls: OntologyClass) -> dict[str, Any]:
    skeleton = cls.skeleton
    return {
        "label_id": label_id,
        "labels": list(skeleton.keypoints) if skeleton else [],
        "joints": [list(edge) for edge in skeleton.edges] if skeleton else [],
        "positions": [],
    }


def geometry(shape: Shape) -> dict[str, Any]:
    """The annotation's type and the fields that say where it is."""
    if isinstance(shape, BoxShape):
        return {"type": "bbox", "bbox": list(shape.bbox)}
    if isinstance(shape, PolygonShape):
        return {"type": "polygon", "points": [c for point in shape.points for c in point]}
    if isinstance(shape, PolylineShape):  # a smooth line: its curve
        return {"type": "polyline", "points": [c for point in shape.line() for c in point]}
    if isinstance(shape, KeypointsShape):
        return {
            "type": "points",
            "points": [c for x, y, _v in shape.keypoints for c in (x, y)],
            "visibility": [v for _x, _y, v in shape.keypoints],
        }
    if isinstance(shape, MaskShape):
        rle = masks.compressed(shape.rle)
        return {"type": "mask", "rle": {"counts": rle.counts, "size": list(rle.size)}}
    assert isinstance(shape, ClassificationShape)
    return {"type": "label"}


class DatumaroFormat:
    """Items are appended to one part file; `finish` writes the head (with the categories) and
    streams the items after it."""

    def __init__(self, sink: ZipSink, parts: Path, spec: PackageSpec) -> None:
        self._spec = spec
        classes = spec.ontology.classes
        self._label_ids = {c.id: i for i, c in enumerate(classes)}
        # class id -> keypoints in its skeleton (keypoint classes only)
        self._skeletons = {
            c.id: len(c.skeleton.keypoints) if c.skeleton else 0
            for c in classes
            if c.kind == "keypoints"
        }
        self._labels = [label_entry(c) for c in classes]
        self._points = [points_entry(i, c) for i, c in enumerate(classes) if c.kind == "keypoints"]
        self._provenance: set[str] = set()  # provenance attribute names written
        self._part = PartFile(parts / "datumaro-items.part", separator=",")
        self.annotations = 0

    def add(self, item: PackageItem, file_name: str) -> list[int]:
        """Append the item; returns the indexes of the shapes written."""
        written: list[int] = []
        annotations: list[dict[str, Any]] = []
        for index, shape in enumerate(item.shapes):
            label_id = self._label_ids.get(shape.class_id)
            if label_id is None:
                continue
            skeleton = self._skeletons.get(shape.class_id)
            if isinstance(shape, KeypointsShape) and skeleton != len(shape.keypoints):
                continue  # drawn against another skeleton: only JSONL can say what it is
            self.annotations += 1
            ann: dict[str, Any] = {
                "id": self.annotations,
                **geometry(shape),
                "attributes": self._attributes(shape),
                "group": 0,
                "label_id": label_id,
            }
            if ann["type"] != "label":  # Datumaro's labels have no z_order
                ann["z_order"] = 0
            annotations.append(ann)
            written.append(index)
        entry = {
            "id": item.item_id,
            "annotations": annotations,
            "attr": {
                "original_file_name": item.file_name,
                "ontology_version": item.ontology_version,
                "accepted_at": item.accepted_at,
            },
            "image": {"path": file_name, "size": [item.height, item.width]},
        }
        self._part.add(_JSON.encode(entry))
        return written

    def _attributes(self, shape: Shape) -> dict[str, Any]:
        attributes: dict[str, Any] = dict(shape.attributes)
        if isinstance(shape, BoxShape) and shape.rotation:
            attributes["rotation"] = shape.rotation  # as CVAT writes a turned box for Datumaro
        source = shape.source
        if source is None:
            return attributes
        for field, name in PROVENANCE:
            value = getattr(source, field)
            if value is None:
                continue
            key = name if name not in shape.attributes else f"aviary_{name}"
            attributes[key] = value
            self._provenance.add(key)
        return attributes

    def finish(self, sink: ZipSink) -> None:
        spec = self._spec
        infos = {
            "description": f"Aviary delivery {spec.delivery_id}",
            "delivery_id": spec.delivery_id,
            "project_id": spec.project_id,
            "batch_id": spec.batch_id,
            "project_version": spec.project_version,
        }
        categories: dict[str, Any] = {
            "label": {
                "labels": self._labels,
                "label_groups": [],
                "attributes": sorted(self._provenance),
            }
        }
        if self._points:
            categories["points"] = {"items": self._points}
        # The version first: Datumaro looks for it in the file's first kilobyte.
        head = (
            f'{{"dm_format_version":"{FORMAT_VERSION}","media_type":{MEDIA_IMAGE},'
            f'"infos":{_JSON.encode(infos)},"categories":{_JSON.encode(categories)},"items":['
        )
        self._part.finish(sink, PATH, head.encode(), b"]}")

    def abort(self) -> None:
        self._part.abort()
