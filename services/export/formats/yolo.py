"""YOLO: detection labels under `yolo/`, and segmentation labels under `yolo-seg/` when the
ontology has a polygon or a mask class.

A class's index is its 0-based position in the ontology (and in classes.txt / data.yaml), for
every class whatever its kind, so indexes are the same in every delivery of a project as long as
classes are only appended. Coordinates are divided by the item's displayed width and height.

YOLO segmentation has outlines only: a mask is written as the outline of its largest part (no
holes), through the centres of its boundary pixels, simplified to within `MASK_TOLERANCE`
pixels (`shared/domain/masks.py`).
"""

from __future__ import annotations

from pathlib import Path

from aviary.contracts.shapes import BoxShape, MaskShape, PolygonShape
from services.export.formats.model import PackageItem, PackageSpec
from services.export.formats.text import fixed6, one_line, yaml_quoted
from services.export.formats.writer import PerItemFormat
from services.export.formats.zipsink import ZipSink
from shared.domain import masks

DETECT = "yolo"
SEGMENT = "yolo-seg"
SEGMENT_KINDS = ("polygon", "mask")
# A mask's outline may stray this many pixels from its pixels' centres (a pixel: what a
# person could draw by hand, with a tenth of the points of the pixel-exact outline).
MASK_TOLERANCE = 1.0


def classes_txt(names: list[str]) -> bytes:
    return "".join(one_line(name) + "\n" for name in names).encode()


def data_yaml(names: list[str]) -> bytes:
    lines = [
        "# Aviary delivery: YOLO labels; a class's index is its position in names.",
        f"nc: {len(names)}",
        "names:",
        *(f"  - {yaml_quoted(name)}" for name in names),
    ]
    return ("\n".join(lines) + "\n").encode()


def box_line(index: int, bbox: tuple[float, float, float, float], width: int, height: int) -> str:
    x, y, w, h = bbox
    return (
        f"{index} {fixed6((x + w / 2) / width)} {fixed6((y + h / 2) / height)} "
        f"{fixed6(w / width)} {fixed6(h / height)}"
    )


def polygon_line(
    index: int, points: tuple[tuple[float, float], ...], width: int, height: int
) -> str:
    coords = " ".join(f"{fixed6(x / width)} {fixed6(y / height)}" for x, y in points)
    return f"{index} {coords}"


class YoloFormat(PerItemFormat):
    """Writes classes.txt and data.yaml at once, then one label file per item as it comes."""

    def __init__(self, sink: ZipSink, parts: Path, spec: PackageSpec) -> None:
        self._sink = sink
        classes = spec.ontology.classes
        names = [c.name for c in classes]
        self._index = {c.id: i for i, c in enumerate(classes)}
        self.segmentation = any(c.kind in SEGMENT_KINDS for c in classes)
        sink.write_bytes(f"{DETECT}/classes.txt", classes_txt(names))
        sink.write_bytes(f"{DETECT}/data.yaml", data_yaml(names))
        if self.segmentation:
            sink.write_bytes(f"{SEGMENT}/classes.txt", classes_txt(names))

    def add(self, item: PackageItem, file_name: str) -> list[int]:
        """Write the item's label files; returns the indexes of the shapes written."""
        written: list[int] = []
        boxes: list[str] = []
        polygons: list[str] = []
        for i, shape in enumerate(item.shapes):
            index = self._index.get(shape.class_id)
            if index is None:
                continue
            if isinstance(shape, BoxShape):
                boxes.append(box_line(index, shape.outer_box(), item.width, item.height))
                written.append(i)
            elif isinstance(shape, PolygonShape) and self.segmentation:
                polygons.append(polygon_line(index, shape.points, item.width, item.height))
                written.append(i)
            elif isinstance(shape, MaskShape) and self.segmentation:
                outline = masks.rle_to_polygon(shape.rle, MASK_TOLERANCE)
                if outline is not None:
                    polygons.append(polygon_line(index, outline, item.width, item.height))
                    written.append(i)
        self._sink.write_bytes(f"{DETECT}/labels/{item.item_id}.txt", _lines(boxes))
        if self.segmentation:
            self._sink.write_bytes(f"{SEGMENT}/labels/{item.item_id}.txt", _lines(polygons))
        return written


def _lines(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()
