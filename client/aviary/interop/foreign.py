"""What an annotation file of another tool says, before it meets a project's ontology.

Each reader (coco.py, yolo.py, voc.py, labelstudio.py, cvat.py) turns its format into a
`ForeignSet`: images by the name the file gives them, each with its shapes in image pixels
(0-based edges, as Aviary's own shapes), labelled by the tool's class name. Nothing here knows
a project: mapping.py decides which names become which classes, and what does not fit.
What a format holds that Aviary cannot keep is listed in `notes`, so the report can say so.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Literal
from xml.parsers import expat

from aviary.contracts.shapes import AttributeValue, Point, Rle

ForeignKind = Literal["bbox", "polygon", "polyline", "keypoints", "mask", "classification"]
Keypoint = tuple[float, float, Literal[0, 1, 2]]


@dataclass(frozen=True)
class ForeignShape:
    """One shape: `label` is the tool's class name; the geometry field of `kind` is set
    (`bbox` x, y, w, h; `points`; `keypoints` with COCO visibility; `rle` a full-image mask as
    COCO writes it); a classification has none."""

    label: str
    kind: ForeignKind
    bbox: tuple[float, float, float, float] | None = None
    rotation: float = 0.0  # a box's, clockwise about its centre, in degrees
    points: tuple[Point, ...] = ()
    keypoints: tuple[Keypoint, ...] = ()
    rle: Rle | None = None
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    score: float | None = None  # a model's confidence, where the tool kept one


@dataclass(frozen=True)
class ForeignImage:
    """An image as the file names it (`name`: a path or file name as written there; matched to
    uploads by its last part) and its size where the file says it."""

    name: str
    width: int | None
    height: int | None
    shapes: tuple[ForeignShape, ...] = ()


@dataclass
class ForeignSet:
    format: str
    images: list[ForeignImage] = field(default_factory=list)
    # Keypoint names of a label's skeleton, where the format declares one (COCO categories).
    skeletons: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what was read but cannot be kept


class ForeignFormatError(ValueError):
    """The file is not what its format says: `where` points at the place (a path, an index)."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


def coco_counts(mask: bytearray, width: int) -> tuple[int, ...]:
    """COCO's uncompressed counts of a row-major 0/1 mask (one byte a pixel, `width` a row):
    runs column by column, starting with zeros. What other tools' masks become."""
    columns = b"".join(mask[c::width] for c in range(width))
    runs: list[int] = []
    pos, value, size = 0, 0, len(columns)
    while pos < size:
        found = columns.find(b"\x00" if value else b"\x01", pos)
        end = size if found < 0 else found
        runs.append(end - pos)
        pos, value = end, value ^ 1
    return tuple(runs) or (0,)


class _Declaration(Exception):
    pass


def safe_xml(data: bytes, where: str, what: str = "this file") -> ET.Element:
    """The document's root, refusing DOCTYPE and ENTITY declarations before ElementTree sees
    them (they are how entity-expansion and external-entity attacks get in; `what` needs none).
    """
    scan = expat.ParserCreate()

    def refuse(*_: object) -> None:
        raise _Declaration

    scan.StartDoctypeDeclHandler = refuse
    scan.EntityDeclHandler = refuse
    try:
        scan.Parse(data, True)
    except _Declaration:
        raise ForeignFormatError(
            f"a DOCTYPE or ENTITY declaration: refused ({what} needs none)", where
        ) from None
    except expat.ExpatError as exc:
        raise ForeignFormatError(f"not well-formed XML: {exc}", where) from None
    return ET.fromstring(data)  # noqa: S314 - declarations refused above; no entity to expand
