"""Pascal VOC annotation files (one XML document per image: the VOC devkit, CVAT's "PASCAL VOC
1.1", labelImg, Aviary's `voc/Annotations/`) into a ForeignSet.

`read` takes a folder (its `Annotations/*.xml`, or else its `*.xml`) or a single XML file.
What is read from each `<annotation>`:

- `filename` (the image's name; `path`'s last part when there is no filename),
  `size/width`, `size/height` (0, as labelImg writes when it did not know, is read as unknown);
- each `object`: `name` (the label), `bndbox` `xmin`, `ymin`, `xmax`, `ymax` as a box
  (x = xmin, w = xmax - xmin). The corners are read as written, as 0-based pixel edges, the frame
  Aviary writes (services/export/formats/voc.py). Files in the original devkit's convention
  (1-based pixel indexes, xmax the last pixel inside) come out one pixel right and down, and one
  pixel narrow: nothing in a file says which convention it follows.
- `difficult`, `truncated`, `occluded` (0/1 or false/true) become yes/no attributes of those
  names, and CVAT's `attributes/attribute` (name, value) text attributes ("true"/"false" as
  yes/no), for mapping to keep where the class declares them.

Dropped and noted: an object's `pose` other than Unspecified, its `part`s (head, hands, feet of
the person layout), `actions`, and `polygon` children some tools add (read as the box only);
`segmented` images (their masks are PNGs in SegmentationObject/, not read). Not read: `folder`,
`source`, `owner`, `depth`.

Refused, with the file: anything that is not well-formed XML, a DOCTYPE or ENTITY declaration
(the standard parser would not fetch external entities, but no VOC file needs them, and internal
ones can expand without limit), a missing name or corner, a corner that is not a number, a box
whose max is below its min, two files for one image.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path, PurePosixPath, PureWindowsPath

from aviary.contracts.shapes import AttributeValue
from aviary.interop.foreign import (
    ForeignFormatError,
    ForeignImage,
    ForeignSet,
    ForeignShape,
    safe_xml,
)

FORMAT = "voc"
FLAGS = ("difficult", "truncated", "occluded")
_BOOLEANS = {"0": False, "1": True, "false": False, "true": True}
CORNERS = ("xmin", "ymin", "xmax", "ymax")


def read(path: Path) -> ForeignSet:
    """The VOC file at `path`, or every VOC file of the folder `path`."""
    if path.is_dir():
        annotations = path / "Annotations"
        files = sorted((annotations if annotations.is_dir() else path).glob("*.xml"))
        if not files:
            raise ForeignFormatError("no .xml files here, nor under Annotations/", str(path))
        base = path
    else:
        files = [path]
        base = path.parent
    result = ForeignSet(FORMAT)
    notes: Counter[str] = Counter()
    seen: dict[str, str] = {}
    for file in files:
        where = file.relative_to(base).as_posix()
        image = parse(file.read_bytes(), where, notes)
        if image.name in seen:
            raise ForeignFormatError(
                f"image {image.name!r} is described by {seen[image.name]} already", where
            )
        seen[image.name] = where
        result.images.append(image)
    result.notes = [f"{count} {text}" for text, count in notes.items()]
    return result


def parse(data: bytes, where: str = "", notes: Counter[str] | None = None) -> ForeignImage:
    """One VOC document; what it holds that Aviary cannot keep is counted in `notes`."""
    notes = Counter() if notes is None else notes
    root = safe_xml(data, where, "a VOC file")
    if root.tag != "annotation":
        raise ForeignFormatError(f"the root element is <{root.tag}>, not <annotation>", where)
    name = _text(root, "filename")
    if not name:
        path = _text(root, "path")
        name = PureWindowsPath(path).name if "\\" in path else PurePosixPath(path).name
    if not name:
        raise ForeignFormatError("no <filename> (nor <path>): which image is it?", where)
    width = _size(root, "width", where, notes)
    height = _size(root, "height", where, notes)
    if _text(root, "segmented") == "1":
        notes["segmented images whose masks (SegmentationObject PNGs) were not read"] += 1
    shapes = tuple(
        _object(obj, f"{where}: object {index}", notes)
        for index, obj in enumerate(root.findall("object"), 1)
    )
    return ForeignImage(name, width, height, shapes)


def _text(element: ET.Element, path: str) -> str:
    return (element.findtext(path) or "").strip()


def _size(root: ET.Element, key: str, where: str, notes: Counter[str]) -> int | None:
    text = _text(root, f"size/{key}")
    if not text:
        return None
    value = _number(text, f"size/{key}", where)
    if value < 0 or not value.is_integer():
        raise ForeignFormatError(f"size/{key} {text!r} is not a whole number of pixels", where)
    if value == 0:
        notes["image sizes of 0 read as unknown"] += 1
        return None
    return int(value)


def _number(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ForeignFormatError(f"{what} {text!r} is not a number", where)
    return value


def _object(obj: ET.Element, where: str, notes: Counter[str]) -> ForeignShape:
    label = _text(obj, "name")
    if not label:
        raise ForeignFormatError("an object without a <name>", where)
    where = f"{where} ({label})"
    box = obj.find("bndbox")
    if box is None:
        raise ForeignFormatError("an object without a <bndbox>", where)
    corners = []
    for key in CORNERS:
        text = _text(box, key)
        if not text:
            raise ForeignFormatError(f"bndbox has no <{key}>", where)
        corners.append(_number(text, key, where))
    xmin, ymin, xmax, ymax = corners
    if xmax < xmin or ymax < ymin:
        raise ForeignFormatError(
            f"bndbox ({xmin:g}, {ymin:g}) to ({xmax:g}, {ymax:g}) ends before it starts", where
        )
    attributes: dict[str, AttributeValue] = {}
    for flag in FLAGS:
        text = _text(obj, flag)
        if text:
            value = _BOOLEANS.get(text.lower())
            if value is None:
                raise ForeignFormatError(f"<{flag}> is {text!r}, not 0 or 1", where)
            attributes[flag] = value
    for attribute in obj.findall("attributes/attribute"):
        key = _text(attribute, "name")
        if key:
            value_text = _text(attribute, "value")
            attributes[key] = _BOOLEANS.get(value_text, value_text)
    pose = _text(obj, "pose")
    if pose and pose.lower() != "unspecified":
        notes["object poses (Left, Frontal...) dropped"] += 1
    for child, text in (
        ("part", "object parts (person layout) dropped"),
        ("actions", "object actions dropped"),
        ("polygon", "object outlines (<polygon>) dropped: read as their box"),
    ):
        if obj.find(child) is not None:
            notes[text] += 1
    bbox = (xmin, ymin, xmax - xmin, ymax - ymin)
    return ForeignShape(label, "bbox", bbox=bbox, attributes=attributes)
