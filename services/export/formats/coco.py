"""COCO: `coco/annotations.json`, streamed through part files in the work directory.

Boxes, polygons, keypoints and masks become annotations; polylines and classifications have no
COCO form and are left to JSONL. Shapes of a class that is not a COCO category of the package's
ontology (a class since removed, say) are left out too.

A mask is written as COCO's RLE with compressed counts (`segmentation: {size, counts}`, what
pycocotools' `encode` gives), with `iscrowd` 0 as every annotation here: one object, not a crowd.
Its `area` is its pixel count and its `bbox` the box of its pixels, as pycocotools computes them.
A turned box is the box around it, with its four corners as the segmentation, its own area, and
`attributes.rotation` (clockwise about the centre, degrees) as CVAT's COCO export writes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aviary.contracts.shapes import (
    BoxShape,
    KeypointsShape,
    MaskShape,
    OntologyClass,
    PolygonShape,
    bounds,
    polygon_area,
)
from services.export.formats.model import PackageItem, PackageSpec
from services.export.formats.zipsink import ZipSink
from shared.domain import masks

PATH = "coco/annotations.json"
COCO_KINDS = ("bbox", "polygon", "keypoints", "mask")
_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def category(cls: OntologyClass) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": cls.id, "name": cls.name, "supercategory": ""}
    if cls.kind == "keypoints":
        skeleton = cls.skeleton
        entry["keypoints"] = list(skeleton.keypoints) if skeleton else []
        entry["skeleton"] = [list(edge) for edge in skeleton.edges] if skeleton else []
    return entry


class CocoFormat:
    """Images and annotations are appended to two part files; `finish` joins them in the zip."""

    def __init__(self, sink: ZipSink, parts: Path, spec: PackageSpec) -> None:
        self._spec = spec
        self._categories = [category(c) for c in spec.ontology.classes if c.kind in COCO_KINDS]
        # class id -> the number of keypoints its skeleton has (0 for other kinds)
        self._points = {c["id"]: len(c.get("keypoints", ())) for c in self._categories}
        self._images_path = parts / "coco-images.part"
        self._annotations_path = parts / "coco-annotations.part"
        self._images_part = self._images_path.open("wb", buffering=1 << 20)
        self._annotations_part = self._annotations_path.open("wb", buffering=1 << 20)
        self.images = 0
        self.annotations = 0

    def add(self, item: PackageItem, file_name: str) -> list[int]:
        """Append one image and its annotations; returns the indexes of the shapes written."""
        self.images += 1
        image_id = self.images
        image = {
            "id": image_id,
            "file_name": file_name,
            "width": item.width,
            "height": item.height,
            "aviary_item_id": item.item_id,
            "original_file_name": item.file_name,
        }
        self._images_part.write((("," if image_id > 1 else "") + _JSON.encode(image)).encode())
        written: list[int] = []
        chunks: list[str] = []
        for index, ann in self._annotations(item):
            self.annotations += 1
            ann["id"] = self.annotations
            ann["image_id"] = image_id
            chunks.append(("," if self.annotations > 1 else "") + _JSON.encode(ann))
            written.append(index)
        if chunks:
            self._annotations_part.write("".join(chunks).encode())
        return written

    def _annotations(self, item: PackageItem) -> Iterator[tuple[int, dict[str, Any]]]:
        for index, shape in enumerate(item.shapes):
            points = self._points.get(shape.class_id)
            if points is None:
                continue
            ann: dict[str, Any] = {"category_id": shape.class_id, "iscrowd": 0}
            if isinstance(shape, BoxShape) and shape.rotation:
                # COCO has no turned boxes: the box around it, its outline as the
                # segmentation, and the rotation as CVAT's COCO export keeps it.
                w, h = shape.bbox[2:]
                outline = [c for point in shape.corners() for c in point]
                ann |= {
                    "bbox": list(shape.outer_box()),
                    "area": w * h,
                    "segmentation": [outline],
                    "attributes": {"rotation": shape.rotation},
                }
            elif isinstance(shape, BoxShape):
                x, y, w, h = shape.bbox
                ann |= {"bbox": [x, y, w, h], "area": w * h, "segmentation": []}
            elif isinstance(shape, PolygonShape):
                flat = [c for point in shape.points for c in point]
                ann |= {
                    "bbox": list(bounds(shape.points)),
                    "area": polygon_area(shape.points),
                    "segmentation": [flat],
                }
            elif isinstance(shape, MaskShape):
                rle = masks.compressed(shape.rle)
                ann |= {
                    "bbox": list(masks.bbox(rle)),
                    "area": masks.area(rle),
                    "segmentation": {"size": list(rle.size), "counts": rle.counts},
                }
            elif isinstance(shape, KeypointsShape):
                if len(shape.keypoints) != points:
                    continue  # drawn against another skeleton: only JSONL can say what it is
                labeled = [(x, y) for x, y, v in shape.keypoints if v > 0]
                box = list(bounds(labeled)) if labeled else [0, 0, 0, 0]
                ann |= {
                    "keypoints": [c for keypoint in shape.keypoints for c in keypoint],
                    "num_keypoints": len(labeled),
                    "bbox": box,
                    "area": box[2] * box[3],
                    "segmentation": [],
                }
            else:
                continue
            yield index, ann

    def finish(self, sink: ZipSink) -> None:
        self._images_part.close()
        self._annotations_part.close()
        spec = self._spec
        info = {
            "description": f"Aviary delivery {spec.delivery_id}",
            "delivery_id": spec.delivery_id,
            "project_id": spec.project_id,
            "batch_id": spec.batch_id,
            "project_version": spec.project_version,
        }
        head = ('{"info":' + _JSON.encode(info) + ',"licenses":[],"images":[').encode()
        middle = b'],"annotations":['
        tail = ('],"categories":' + _JSON.encode(self._categories) + "}").encode()
        size = (
            len(head)
            + len(middle)
            + len(tail)
            + self._images_path.stat().st_size
            + self._annotations_path.stat().st_size
        )
        with sink.stream(PATH, size) as out:
            out.write(head)
            out.copy_from(self._images_path)
            out.write(middle)
            out.copy_from(self._annotations_path)
            out.write(tail)

    def abort(self) -> None:
        self._images_part.close()
        self._annotations_part.close()
