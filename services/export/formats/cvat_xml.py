"""Pieces of CVAT's XML 1.1 (for images and for video) that both of Aviary's writers share.

- Escaping: names and values come from tenants. Text and attribute values are escaped by hand
  (the documents are streamed as text, not built as trees); characters XML 1.0 cannot hold
  become U+FFFD (text.py), and a carriage return is written as `&#13;` so that a parser's
  line-end normalisation gives it back as it was. Attribute values are always double-quoted.
- The `<labels>` block of `<meta>`: per class its name, its CVAT label type and its attributes
  (`input_type` select / checkbox / text, `values` one per line, as CVAT writes them). Aviary
  classes have no colour, so no `<color>` is written (CVAT picks one on import).
- Geometry as CVAT writes it: coordinates with 2 decimals, boxes as corners (xtl, ytl, xbr,
  ybr), points as `x,y;x,y`, masks as CVAT's own RLE over the mask's box (see `mask_geometry`).
- A shape's attributes as `<attribute name="...">value</attribute>` (booleans "true"/"false").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from aviary.contracts.shapes import (
    AttributeValue,
    KeypointsShape,
    OntologyClass,
    Point,
    Rle,
)
from services.export.formats.text import xml_text
from shared.domain import masks

# Aviary's geometry kind -> CVAT's label type (in <meta>) and its element (in an <image>).
LABEL_TYPES = {
    "bbox": "rectangle",
    "polygon": "polygon",
    "polyline": "polyline",
    "keypoints": "points",
    "mask": "mask",
    "classification": "tag",
}
SHAPE_TAGS = {
    "bbox": "box",
    "polygon": "polygon",
    "polyline": "polyline",
    "keypoints": "points",
    "mask": "mask",
}
INPUT_TYPES = {"enum": "select", "boolean": "checkbox", "text": "text"}

_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_VALUE = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#10;",  # inside an attribute a parser would turn raw ones into spaces
        "\r": "&#13;",
        "\t": "&#9;",
    }
)


def text(value: str) -> str:
    """Element content holding exactly `value` (less what XML cannot hold at all)."""
    return xml_text(value).translate(_TEXT)


def quoted(value: str) -> str:
    """An attribute value, with its double quotes, holding exactly `value`."""
    return '"' + xml_text(value).translate(_VALUE) + '"'


def coordinate(value: float) -> str:
    """A coordinate as CVAT writes it: 2 decimals (never "-0.00")."""
    written = f"{value:.2f}"
    return "0.00" if written == "-0.00" else written


def box_geometry(bbox: tuple[float, float, float, float], rotation: float = 0.0) -> str:
    """A box's corners before it turns, and CVAT's `rotation` (clockwise about the centre,
    in degrees, as Aviary keeps it) where it does."""
    x, y, w, h = bbox
    turned = f' rotation="{coordinate(rotation)}"' if rotation else ""
    return (
        f' xtl="{coordinate(x)}" ytl="{coordinate(y)}"'
        f' xbr="{coordinate(x + w)}" ybr="{coordinate(y + h)}"{turned}'
    )


def points_geometry(points: Iterable[Point]) -> str:
    return ' points="' + ";".join(f"{coordinate(x)},{coordinate(y)}" for x, y in points) + '"'


def labeled_keypoints(shape: KeypointsShape) -> list[Point]:
    """The keypoints that were placed (visibility 1 or 2), in skeleton order: CVAT's `points`
    are a bare list, with neither names nor visibility."""
    return [(x, y) for x, y, v in shape.keypoints if v > 0]


def mask_geometry(rle: Rle) -> str | None:
    """CVAT's mask attributes (`rle`, `left`, `top`, `width`, `height`); None for an empty mask,
    which CVAT cannot hold.

    CVAT's RLE covers the box of the mask's pixels only, row by row (not column by column as
    COCO), starting with a run of zeros; the runs are written as decimal numbers joined by
    ", " as CVAT's own export does (Datumaro's reader splits them on ",")."""
    x, y, w, h = (int(v) for v in masks.bbox(rle))
    if w == 0:
        return None
    crop = masks.decode(rle)[y : y + h, x : x + w]
    # runs_of counts column by column: the transposed crop's columns are the crop's rows
    runs = masks.runs_of(np.ascontiguousarray(crop.T))
    counts = ", ".join(str(int(n)) for n in runs)
    return f' rle="{counts}" left="{x}" top="{y}" width="{w}" height="{h}"'


def attribute_text(value: AttributeValue) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else value


def attribute_elements(attributes: Mapping[str, AttributeValue]) -> str:
    """A shape's attributes as CVAT's <attribute> children (all on one line)."""
    return "".join(
        f"<attribute name={quoted(name)}>{text(attribute_text(value))}</attribute>"
        for name, value in attributes.items()
    )


def labels_block(classes: Iterable[OntologyClass], indent: str, mutable: bool) -> str:
    """`<labels>` of CVAT's <meta>, a line per class. `mutable` says whether an attribute may
    change from frame to frame (a track's keyframes); an image's shapes have one value."""
    lines = [f"{indent}<labels>\n"]
    for cls in classes:
        attributes = "".join(
            _attribute_spec(a.name, a.type, a.options, mutable) for a in cls.attributes
        )
        colour = f"<color>{cls.colour}</color>" if cls.colour else ""  # the project's own
        lines.append(
            f"{indent}  <label><name>{text(cls.name)}</name>{colour}"
            f"<type>{LABEL_TYPES[cls.kind]}</type>"
            f"<attributes>{attributes}</attributes></label>\n"
        )
    lines.append(f"{indent}</labels>\n")
    return "".join(lines)


def _attribute_spec(name: str, kind: str, options: tuple[str, ...], mutable: bool) -> str:
    # CVAT's values: a select's options one per line (the first is the default), a
    # checkbox's default "false", a text attribute's default (none here).
    if kind == "enum":
        values, default = "\n".join(options), options[0] if options else ""
    elif kind == "boolean":
        values = default = "false"
    else:
        values = default = ""
    return (
        f"<attribute><name>{text(name)}</name><mutable>{mutable}</mutable>"
        f"<input_type>{INPUT_TYPES[kind]}</input_type>"
        f"<default_value>{text(default)}</default_value><values>{text(values)}</values>"
        "</attribute>"
    )
