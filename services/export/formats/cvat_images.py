"""CVAT for images 1.1: `cvat/annotations.xml`, one document for the whole package.

`<annotations><version>1.1</version><meta><task>` names the delivery, its number of images
(`size`, `stop_frame`), `mode` "annotation" and the ontology's classes as `<labels>` (name,
CVAT label type, attributes with `input_type` and `values`: cvat_xml.py). Then one
`<image id name width height>` per item, in the order they come: `id` counts from 0, `name` is
the image's file name in the package (`images/<name>` when images are included; CVAT matches
annotations to a task's images by that name), `width`/`height` its displayed size. In it:

- bbox -> `<box xtl ytl xbr ybr>` (corners: x + w, y + h; a turned box with `rotation`);
- polygon -> `<polygon points="x,y;...">`, polyline -> `<polyline points>`;
- keypoints -> `<points points>` with the keypoints placed (visibility 1 or 2), in skeleton
  order. CVAT's points have no names and no visibility: which keypoint a point is follows from
  its position only when every keypoint was placed, and hidden (1) reads back as visible.
  (CVAT 2.x has `<skeleton>` elements, but Datumaro's `cvat` reader does not read them.)
- mask -> `<mask rle left top width height>`: CVAT's own RLE over the box of the mask's
  pixels, row by row, starting with a run of zeros (cvat_xml.mask_geometry);
- classification -> `<tag label>` (after the image's shapes, as CVAT writes them).

Every shape has `label` (its class's name), `source` ("auto" for a shape a model proposed, kept
or edited by hand; "manual" otherwise), `occluded` ("1" when the shape's boolean attribute
`occluded` is true, an ontology's own, else "0") and `z_order` "0" (tags: label and source only),
and its attributes as `<attribute name>value</attribute>` children (booleans "true"/"false").
Coordinates have 2 decimals, as CVAT writes them.

Not carried (left out of `written`): shapes of a class no longer in the ontology, keypoints
with none placed and empty masks (CVAT has no empty points or mask). Not said at all: which
model made a shape and its confidence, who annotated and reviewed, the client's own file name
(JSONL keeps all of these).
"""

from __future__ import annotations

from pathlib import Path

from aviary.contracts.shapes import (
    BoxShape,
    ClassificationShape,
    KeypointsShape,
    MaskShape,
    PolygonShape,
    PolylineShape,
    Shape,
)
from services.export.formats import cvat_xml
from services.export.formats.model import PackageItem, PackageSpec
from services.export.formats.partfile import PartFile
from services.export.formats.zipsink import ZipSink

PATH = "cvat/annotations.xml"


def source_of(shape: Shape) -> str:
    """CVAT's `source`: "auto" for what a model proposed (kept, or edited by hand)."""
    by = shape.source.by if shape.source is not None else "human"
    return "manual" if by == "human" else "auto"


def occluded_of(shape: Shape) -> int:
    # CVAT's own occluded flag: Datumaro reads it over an attribute of the same name.
    return int(shape.attributes.get("occluded") is True)


def _geometry(shape: Shape) -> str | None:
    """The element's geometry attributes; None when CVAT cannot hold the shape."""
    if isinstance(shape, BoxShape):
        return cvat_xml.box_geometry(shape.bbox, shape.rotation)
    if isinstance(shape, PolygonShape):
        return cvat_xml.points_geometry(shape.points)
    if isinstance(shape, PolylineShape):
        return cvat_xml.points_geometry(shape.line())  # a smooth line: its curve
    if isinstance(shape, KeypointsShape):
        placed = cvat_xml.labeled_keypoints(shape)
        return cvat_xml.points_geometry(placed) if placed else None
    if isinstance(shape, MaskShape):
        return cvat_xml.mask_geometry(shape.rle)
    return None


def _element(tag: str, head: str, shape: Shape) -> str:
    """One shape's line: its attributes as children, or an empty element."""
    attributes = cvat_xml.attribute_elements(shape.attributes)
    if attributes:
        return f"    <{tag} {head}>{attributes}</{tag}>\n"
    return f"    <{tag} {head}/>\n"


class CvatImagesFormat:
    """Each image's element is appended to a part file; `finish` writes the head (which needs
    the number of images), the part and the tail into the zip."""

    def __init__(self, sink: ZipSink, parts: Path, spec: PackageSpec) -> None:
        self._spec = spec
        self._labels = {c.id: cvat_xml.quoted(c.name) for c in spec.ontology.classes}
        self._part = PartFile(parts / "cvat-images.part")

    def add(self, item: PackageItem, file_name: str) -> list[int]:
        """Append the item's <image>; returns the indexes of the shapes written."""
        written: list[int] = []
        shapes: list[str] = []
        tags: list[str] = []
        for index, shape in enumerate(item.shapes):
            label = self._labels.get(shape.class_id)
            if label is None:
                continue  # a class no longer in the ontology
            head = f'label={label} source="{source_of(shape)}"'
            if isinstance(shape, ClassificationShape):
                tags.append(_element("tag", head, shape))
            else:
                geometry = _geometry(shape)
                if geometry is None:
                    continue
                head += f' occluded="{occluded_of(shape)}"{geometry} z_order="0"'
                shapes.append(_element(cvat_xml.SHAPE_TAGS[shape.kind], head, shape))
            written.append(index)
        opening = (
            f'  <image id="{self._part.entries}" name={cvat_xml.quoted(file_name)}'
            f' width="{item.width}" height="{item.height}"'
        )
        body = "".join(shapes + tags)
        self._part.add(f"{opening}>\n{body}  </image>\n" if body else f"{opening}/>\n")
        return written

    def finish(self, sink: ZipSink) -> None:
        spec = self._spec
        images = self._part.entries
        labels = cvat_xml.labels_block(spec.ontology.classes, " " * 6, mutable=False)
        head = (
            '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
            "  <meta>\n    <task>\n"
            f"      <name>{cvat_xml.text(f'Aviary delivery {spec.delivery_id}')}</name>\n"
            f"      <size>{images}</size>\n"
            "      <mode>annotation</mode>\n      <overlap>0</overlap>\n"
            f"      <start_frame>0</start_frame>\n      <stop_frame>{max(images - 1, 0)}"
            "</stop_frame>\n"
            f"{labels}"
            "    </task>\n  </meta>\n"
        )
        self._part.finish(sink, PATH, head.encode(), b"</annotations>\n")

    def abort(self) -> None:
        self._part.abort()
