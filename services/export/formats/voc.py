"""Pascal VOC: `voc/labels.txt` and one `voc/Annotations/<item_id>.xml` per item.

Objects come from boxes, and from polygons and masks (their bounding box: a mask's is the box
of its pixels). Corners are integers, as VOC tools expect: each edge is rounded to the nearest
pixel, halves up (xmin = round(x), xmax = round(x + w)), and kept inside the image. They are
0-based pixel edges, the same frame as COCO and YOLO, not the 1-based pixel indexes of the
original VOC devkit.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from aviary.contracts.shapes import BoxShape, MaskShape, PolygonShape
from services.export.formats.model import PackageItem, PackageSpec
from services.export.formats.text import one_line, xml_text
from services.export.formats.writer import PerItemFormat
from services.export.formats.zipsink import ZipSink
from shared.domain.geometry import shape_box

VOC_KINDS = ("bbox", "polygon", "mask")


def pixel(value: float, limit: int) -> int:
    """Round half up to an integer pixel edge in [0, limit]."""
    return min(max(math.floor(value + 0.5), 0), limit)


def _child(parent: ET.Element, tag: str, text: str | int) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = str(text)
    return element


def annotation_xml(
    item: PackageItem, file_name: str, objects: list[tuple[str, float, float, float, float]]
) -> bytes:
    """The VOC document for one image; objects are (class name, x, y, w, h)."""
    root = ET.Element("annotation")
    _child(root, "folder", "images")
    _child(root, "filename", file_name)
    size = ET.SubElement(root, "size")
    _child(size, "width", item.width)
    _child(size, "height", item.height)
    _child(size, "depth", 3)
    _child(root, "segmented", 0)
    for name, x, y, w, h in objects:
        obj = ET.SubElement(root, "object")
        _child(obj, "name", xml_text(name))
        _child(obj, "pose", "Unspecified")
        _child(obj, "truncated", 0)
        _child(obj, "difficult", 0)
        box = ET.SubElement(obj, "bndbox")
        _child(box, "xmin", pixel(x, item.width))
        _child(box, "ymin", pixel(y, item.height))
        _child(box, "xmax", pixel(x + w, item.width))
        _child(box, "ymax", pixel(y + h, item.height))
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


class VocFormat(PerItemFormat):
    def __init__(self, sink: ZipSink, parts: Path, spec: PackageSpec) -> None:
        self._sink = sink
        self._names = {c.id: c.name for c in spec.ontology.classes}
        labels = [one_line(c.name) for c in spec.ontology.classes if c.kind in VOC_KINDS]
        sink.write_bytes("voc/labels.txt", "".join(n + "\n" for n in labels).encode())

    def add(self, item: PackageItem, file_name: str) -> list[int]:
        """Write the item's XML; returns the indexes of the shapes written."""
        written: list[int] = []
        objects: list[tuple[str, float, float, float, float]] = []
        for i, shape in enumerate(item.shapes):
            name = self._names.get(shape.class_id)
            if name is None:
                continue
            if not isinstance(shape, BoxShape | PolygonShape | MaskShape):
                continue
            box = shape_box(shape)
            if box is None:  # an empty mask
                continue
            objects.append((name, *box))
            written.append(i)
        xml = annotation_xml(item, file_name, objects)
        self._sink.write_bytes(f"voc/Annotations/{item.item_id}.xml", xml)
        return written
