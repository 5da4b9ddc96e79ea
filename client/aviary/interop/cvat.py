"""CVAT's XML 1.1, read: "CVAT for images" into a `ForeignSet` (`read`), "CVAT for video" into
tracks kept for the video import (`read_tracks`, not mapped yet).

`path` is `annotations.xml`, a folder holding it, or the zip CVAT exports (with it at the top).
The XML is parsed with the standard library's expat, after a first pass that refuses any
DOCTYPE or ENTITY declaration (CVAT writes none; they are how entity-expansion and external-
entity attacks get in). Images are read one at a time and cleared, so memory stays flat.

**CVAT for images** (`<annotations><version>1.1</version><meta>…</meta><image>…`):
- `meta` (under `task`, `job` or `project`): each `<label>`'s `name`, `type` and attributes
  (`name`, `input_type`); a `<parent>` marks a skeleton's point label. They decide which
  attribute values are booleans and the order of a skeleton's points; labels are not otherwise
  checked (mapping.py decides what fits).
- `<image id name width height>`: `name` as written (with any folder: matched by its last
  part), the size in pixels.
- `<box xtl ytl xbr ybr rotation>` → bbox (x, y, w, h) and its rotation (clockwise about the
  centre, degrees, as CVAT and Aviary both keep it); a track's turned box is refused.
  `<polygon points="x,y;…">` → polygon, `<polyline>` → polyline,
  `<points>` → keypoints, each visible (2): CVAT's points have neither names nor visibility.
  `<skeleton>` (CVAT 2.x) → keypoints named by its `<points label>` children, in the order of
  the skeleton's point labels in `meta` (else as they come): `outside="1"` → visibility 0
  (x = y = 0), `occluded="1"` → 1, else 2; the names go into `ForeignSet.skeletons`.
- `<mask rle left top width height>` → a mask: CVAT's own RLE counts runs row by row over the
  `width` x `height` box at (`left`, `top`), starting with a run of zeros (as Datumaro's `cvat`
  reader decodes it); re-encoded as COCO's column-major uncompressed counts over the image.
- `<tag>` → classification.
- `<attribute name>value</attribute>` children → attributes: a `checkbox` attribute (per
  `meta`) or, without `meta`, the values `true`/`false` become booleans; everything else stays
  text. `occluded="1"` → a boolean attribute `occluded` (unless an `occluded` attribute child
  says otherwise; mapping.py drops it where the class declares none).
- Not kept, counted in `notes`: `source` (a model's shapes, `auto`/`semi-auto`, are read like
  any other, without a score: CVAT keeps none), `group_id`, `z_order`, ellipses, cuboids and
  any other element.

**CVAT for video** (`<track id label source>` with per-frame `<box frame outside occluded
keyframe …>`): `read_tracks` gives each box track's label and boxes (frame, bbox, outside,
occluded, keyframe, attributes). Tracks of other shapes are left out and counted in `notes`.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from xml.parsers import expat

from aviary.contracts.shapes import AttributeValue, Point, Rle
from aviary.interop.foreign import (
    ForeignFormatError,
    ForeignImage,
    ForeignKind,
    ForeignSet,
    ForeignShape,
    Keypoint,
    coco_counts,
)

FORMAT = "cvat"
ANNOTATIONS = "annotations.xml"
_SHAPES = frozenset({"box", "polygon", "polyline", "points", "mask", "skeleton", "tag"})


# ----- tracks (CVAT for video) -----------------------------------------------------------------


@dataclass(frozen=True)
class TrackBox:
    """A track's box on one frame: `outside` means the object has left the view there."""

    frame: int
    bbox: tuple[float, float, float, float]
    outside: bool
    occluded: bool
    keyframe: bool
    attributes: dict[str, AttributeValue] = field(default_factory=dict)


@dataclass(frozen=True)
class ForeignTrack:
    id: int
    label: str
    boxes: tuple[TrackBox, ...]  # by frame
    source: str = "manual"


@dataclass
class TrackSet:
    """A CVAT for video file: the video's frame size and number of frames where `meta` says,
    and the names it goes by there (the task's `name`, the video file's `source`)."""

    width: int | None
    height: int | None
    frames: int | None
    tracks: list[ForeignTrack] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    names: tuple[str, ...] = ()


_TRACK_TAG = re.compile(rb"<track[\s>/]")
_IMAGE_TAG = re.compile(rb"<image[\s>/]")  # not <image_quality>, which meta may hold


def holds_tracks(data: bytes) -> bool:
    """Whether a CVAT file is for video (tracks, no images) without parsing it: as `read`
    and `read_tracks` tell the two apart."""
    return _TRACK_TAG.search(data) is not None and _IMAGE_TAG.search(data) is None


class ForVideo(ForeignFormatError):
    """A CVAT file for video where one for images was expected (its tracks belong to a video
    item: `read_tracks`)."""


# ----- opening ---------------------------------------------------------------------------------


Opener = Callable[[], IO[bytes]]


@contextmanager
def _document(path: Path) -> Iterator[tuple[str, Opener]]:
    """The XML's name (for messages) and a way to open it (twice: checked, then parsed)."""
    if path.is_dir():
        path = path / ANNOTATIONS
    if not path.is_file():
        raise ForeignFormatError("no such file", str(path))
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if ANNOTATIONS not in archive.namelist():
                raise ForeignFormatError(f"the zip has no {ANNOTATIONS} at its top", path.name)
            yield f"{path.name}/{ANNOTATIONS}", lambda: archive.open(ANNOTATIONS)
        return
    yield path.name, lambda: path.open("rb")


class _Prologue(Exception):
    """The root element began: the prologue (where declarations live) is over."""


def _refuse_declarations(stream: IO[bytes], where: str) -> None:
    """Refuse a DOCTYPE or ENTITY declaration; stop at the root element."""

    def declared(*_: object) -> None:
        raise ForeignFormatError(
            "the XML declares a DOCTYPE or ENTITY, which CVAT never writes: refused", where
        )

    def root(*_: object) -> None:
        raise _Prologue

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = declared
    parser.EntityDeclHandler = declared
    parser.StartElementHandler = root
    try:
        parser.ParseFile(stream)
    except _Prologue:
        return
    except expat.ExpatError as exc:
        raise ForeignFormatError(f"not well-formed XML ({exc})", where) from exc
    raise ForeignFormatError("the XML has no root element", where)


def _elements(path: Path) -> Iterator[tuple[str, str, ET.Element, str]]:
    """(event, tag, element, where) over the document, its declarations refused first."""
    with _document(path) as (name, opener):
        with opener() as stream:
            _refuse_declarations(stream, name)
        with opener() as stream:
            try:
                events = ET.iterparse(stream, events=("start", "end"))  # noqa: S314 - checked
                event, root = next(events)
                if root.tag != "annotations":
                    raise ForeignFormatError(
                        f"not CVAT XML: the root element is <{root.tag}>, not <annotations>", name
                    )
                for event, element in events:
                    yield event, element.tag, element, name
                    if event == "end" and element.tag in ("image", "track", "meta"):
                        root.clear()  # what was read is done with
            except ET.ParseError as exc:
                raise ForeignFormatError(f"not well-formed XML ({exc})", name) from exc


# ----- meta ------------------------------------------------------------------------------------


@dataclass
class _Meta:
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)  # label -> name -> type
    points: dict[str, list[str]] = field(default_factory=dict)  # skeleton -> its point labels
    size: int | None = None
    width: int | None = None
    height: int | None = None
    names: tuple[str, ...] = ()  # the task's name and its video's file name, where given


def _meta(element: ET.Element, where: str) -> _Meta:
    meta = _Meta()
    for label in element.iter("label"):
        name = label.findtext("name")
        if not name:
            continue
        meta.attributes[name] = {
            a.findtext("name") or "": a.findtext("input_type") or "text"
            for a in label.iter("attribute")
        }
        parent = label.findtext("parent")
        if parent:
            meta.points.setdefault(parent, []).append(name)
    size = element.find("./*/size")
    if size is not None and size.text:
        meta.size = _integer(size.text, "meta's size", where)
    original = element.find(".//original_size")
    if original is not None:
        meta.width = _integer(original.findtext("width"), "original_size/width", where)
        meta.height = _integer(original.findtext("height"), "original_size/height", where)
    given = (element.findtext("./*/source"), element.findtext("./*/name"))
    meta.names = tuple(n.strip() for n in given if n and n.strip())
    return meta


# ----- CVAT for images -------------------------------------------------------------------------


def read(path: Path) -> ForeignSet:
    """The images of a CVAT for images 1.1 file, with their shapes."""
    reader = _ImageReader()
    tracks = 0
    for event, tag, element, where in _elements(path):
        if event != "end":
            continue
        if tag == "meta":
            reader.meta = _meta(element, where)
        elif tag == "image":
            reader.image(element, f"{where} image {element.get('id', '?')}")
        elif tag == "track":
            tracks += 1
    if tracks and not reader.images:
        raise ForVideo(
            "this is CVAT for video (tracks, no images): read it with read_tracks", str(path)
        )
    return reader.result()


@dataclass
class _Skeleton:
    """A skeleton's named points, ordered once every skeleton of its label has been seen."""

    label: str
    placed: dict[str, Keypoint]
    attributes: dict[str, AttributeValue]


class _ImageReader:
    def __init__(self) -> None:
        self.meta = _Meta()
        self.images: list[tuple[str, int | None, int | None, list[ForeignShape | _Skeleton]]] = []
        self.names: dict[str, list[str]] = {}  # a skeleton's point names, meta's order first
        self.seen: dict[str, str] = {}  # image name -> its id
        self.counts: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()

    def image(self, element: ET.Element, where: str) -> None:
        name = element.get("name")
        if not name:
            raise ForeignFormatError("an <image> has a `name`", where)
        if name in self.seen:
            raise ForeignFormatError(
                f"image {self.seen[name]} has the name {name!r} too: an image is imported once",
                where,
            )
        self.seen[name] = element.get("id", "?")
        width = _optional_size(element.get("width"), "width", where)
        height = _optional_size(element.get("height"), "height", where)
        shapes: list[ForeignShape | _Skeleton] = []
        for index, child in enumerate(element):
            if child.tag in _SHAPES:
                shapes.append(self.shape(child, width, height, f"{where} <{child.tag}> {index}"))
            else:
                self.dropped[child.tag] += 1
        self.images.append((name, width, height, shapes))

    def shape(
        self, element: ET.Element, width: int | None, height: int | None, where: str
    ) -> ForeignShape | _Skeleton:
        label = element.get("label")
        if not label:
            raise ForeignFormatError("a shape has a `label`", where)
        source = element.get("source", "manual")
        if source != "manual":
            self.sources[source] += 1
        if element.get("group_id", "0") not in ("", "0"):
            self.counts["grouped"] += 1
        attributes = _attributes(element, self.meta.attributes.get(label, {}), where)
        if element.get("occluded") == "1" and "occluded" not in attributes:
            attributes["occluded"] = True
            self.counts["occluded"] += 1
        tag = element.tag
        if tag == "box":
            return ForeignShape(
                label,
                "bbox",
                bbox=_box(element, where),
                rotation=_rotation(element, where),
                attributes=attributes,
            )
        if tag in ("polygon", "polyline"):
            points = _points(element.get("points"), where)
            kind: ForeignKind = "polygon" if tag == "polygon" else "polyline"
            return ForeignShape(label, kind, points=points, attributes=attributes)
        if tag == "points":
            visible: list[Keypoint] = [(x, y, 2) for x, y in _points(element.get("points"), where)]
            keypoints = tuple(visible)
            return ForeignShape(label, "keypoints", keypoints=keypoints, attributes=attributes)
        if tag == "mask":
            if width is None or height is None:
                raise ForeignFormatError("a mask on an image without width and height", where)
            rle = _mask(element, width, height, where)
            return ForeignShape(label, "mask", rle=rle, attributes=attributes)
        if tag == "skeleton":
            return self.skeleton(element, label, attributes, where)
        return ForeignShape(label, "classification", attributes=attributes)

    def skeleton(
        self,
        element: ET.Element,
        label: str,
        attributes: dict[str, AttributeValue],
        where: str,
    ) -> _Skeleton:
        placed: dict[str, Keypoint] = {}
        for index, point in enumerate(element.iter("points")):
            here = f"{where} point {index}"
            name = point.get("label")
            if not name:
                raise ForeignFormatError("a skeleton's point has a `label`", here)
            if name in placed:
                raise ForeignFormatError(f"a skeleton with two points {name!r}", here)
            found = _points(point.get("points"), here)
            if len(found) != 1:
                raise ForeignFormatError("a skeleton's point has one x,y", here)
            x, y = found[0]
            if point.get("outside") == "1":
                placed[name] = (0.0, 0.0, 0)
            else:
                placed[name] = (x, y, 1 if point.get("occluded") == "1" else 2)
        known = self.names.setdefault(label, list(self.meta.points.get(label, ())))
        known += [n for n in placed if n not in known]
        return _Skeleton(label, placed, attributes)

    def result(self) -> ForeignSet:
        notes: list[str] = []
        if self.sources:
            made = ", ".join(f"{s} ({n})" for s, n in sorted(self.sources.items()))
            notes.append(
                f"shapes CVAT marks as not drawn by hand, by source: {made}; read like any"
                " other, with no score (CVAT keeps none)"
            )
        if self.counts["occluded"]:
            notes.append(
                f"{self.counts['occluded']} shapes marked occluded: kept as the boolean"
                " attribute 'occluded' (dropped where the class declares no such attribute)"
            )
        if self.counts["grouped"]:
            notes.append(f"{self.counts['grouped']} shapes in CVAT groups: the grouping dropped")
        if self.dropped:
            gone = ", ".join(f"<{t}> ({n})" for t, n in sorted(self.dropped.items()))
            notes.append(f"elements Aviary cannot keep, dropped: {gone}")
        images = [
            ForeignImage(name, width, height, tuple(self._final(s) for s in shapes))
            for name, width, height, shapes in self.images
        ]
        skeletons = {label: tuple(names) for label, names in self.names.items()}
        return ForeignSet(FORMAT, images, skeletons, notes)

    def _final(self, shape: ForeignShape | _Skeleton) -> ForeignShape:
        """A skeleton's keypoints in its label's order (every name seen), missing ones 0."""
        if isinstance(shape, ForeignShape):
            return shape
        missing: Keypoint = (0.0, 0.0, 0)
        keypoints = tuple(shape.placed.get(n, missing) for n in self.names[shape.label])
        return ForeignShape(
            shape.label, "keypoints", keypoints=keypoints, attributes=shape.attributes
        )


# ----- CVAT for video --------------------------------------------------------------------------


def read_tracks(path: Path) -> TrackSet:
    """The box tracks of a CVAT for video 1.1 file (not mapped onto an ontology yet)."""
    meta = _Meta()
    tracks: list[ForeignTrack] = []
    left_out: Counter[str] = Counter()
    images = 0
    for event, tag, element, where in _elements(path):
        if event != "end":
            continue
        if tag == "meta":
            meta = _meta(element, where)
        elif tag == "image":
            images += 1
        elif tag == "track":
            track = _track(element, meta, f"{where} track {element.get('id', '?')}")
            if isinstance(track, ForeignTrack):
                tracks.append(track)
            else:
                left_out[track] += 1
    if images and not tracks:
        raise ForeignFormatError(
            "this is CVAT for images (images, no tracks): read it with read", str(path)
        )
    notes = []
    if left_out:
        gone = ", ".join(f"<{t}> ({n})" for t, n in sorted(left_out.items()))
        notes.append(f"tracks of shapes other than boxes, left out: {gone}")
    return TrackSet(meta.width, meta.height, meta.size, tracks, notes, meta.names)


def _track(element: ET.Element, meta: _Meta, where: str) -> ForeignTrack | str:
    """The track, or the tag of its shapes when they are not boxes."""
    label = element.get("label")
    if not label:
        raise ForeignFormatError("a track has a `label`", where)
    track_id = _integer(element.get("id"), "a track's id", where)
    kinds = {child.tag for child in element}
    if kinds - {"box"}:
        return sorted(kinds - {"box"})[0]
    boxes: list[TrackBox] = []
    declared = meta.attributes.get(label, {})
    for index, box in enumerate(element):
        here = f"{where} box {index}"
        if _rotation(box, here):
            raise ForeignFormatError(
                "a track's box turns: a video's tracks are read with boxes that do not turn"
                " (straighten it in CVAT)",
                here,
            )
        boxes.append(
            TrackBox(
                frame=_integer(box.get("frame"), "a box's frame", here),
                bbox=_box(box, here),
                outside=box.get("outside") == "1",
                occluded=box.get("occluded") == "1",
                keyframe=box.get("keyframe") == "1",
                attributes=_attributes(box, declared, here),
            )
        )
    boxes.sort(key=lambda b: b.frame)
    frames = [b.frame for b in boxes]
    if len(set(frames)) != len(frames):
        raise ForeignFormatError("a track with two boxes on one frame", where)
    return ForeignTrack(track_id, label, tuple(boxes), element.get("source", "manual"))


# ----- geometry and values ---------------------------------------------------------------------


def _float(value: str | None, what: str, where: str) -> float:
    try:
        number = float(value if value is not None else "missing")
    except ValueError:
        raise ForeignFormatError(f"{what} is a number, not {value!r}", where) from None
    if not math.isfinite(number):
        raise ForeignFormatError(f"{what} is a finite number, not {value!r}", where)
    return number


def _integer(value: str | None, what: str, where: str) -> int:
    try:
        return int(value if value is not None else "missing")
    except ValueError:
        raise ForeignFormatError(f"{what} is a whole number, not {value!r}", where) from None


def _optional_size(value: str | None, what: str, where: str) -> int | None:
    if value is None:
        return None
    size = _integer(value, f"the image's {what}", where)
    if size < 1:
        raise ForeignFormatError(f"the image's {what} is at least 1", where)
    return size


def _rotation(element: ET.Element, where: str) -> float:
    """A box's `rotation`: clockwise about its centre, in degrees, as Aviary keeps it."""
    return _float(element.get("rotation", "0"), "rotation", where) % 360


def _box(element: ET.Element, where: str) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (_float(element.get(k), k, where) for k in ("xtl", "ytl", "xbr", "ybr"))
    if x2 < x1 or y2 < y1:
        raise ForeignFormatError(
            "a box whose bottom-right corner is above or left of its top-left", where
        )
    return x1, y1, x2 - x1, y2 - y1


def _points(text: str | None, where: str) -> tuple[Point, ...]:
    if not text:
        raise ForeignFormatError("a shape has `points`", where)
    points: list[Point] = []
    for pair in text.split(";"):
        xy = pair.split(",")
        if len(xy) != 2:
            raise ForeignFormatError(f"a point is x,y, not {pair!r}", where)
        points.append((_float(xy[0], "x", where), _float(xy[1], "y", where)))
    return tuple(points)


def _attributes(
    element: ET.Element, declared: dict[str, str], where: str
) -> dict[str, AttributeValue]:
    found: dict[str, AttributeValue] = {}
    for child in element.findall("attribute"):
        name = child.get("name")
        if not name:
            raise ForeignFormatError("an <attribute> has a `name`", where)
        text = child.text or ""
        kind = declared.get(name)
        boolean = text.strip().lower() in ("true", "false")
        if boolean and kind in (None, "checkbox"):
            found[name] = text.strip().lower() == "true"
        else:
            found[name] = text
    return found


def _mask(element: ET.Element, width: int, height: int, where: str) -> Rle:
    """CVAT's mask (runs row by row over its box, from zeros) as COCO's counts over the image."""
    left, top, w, h = (
        _integer(element.get(k), f"a mask's {k}", where) for k in ("left", "top", "width", "height")
    )
    if left < 0 or top < 0 or w < 1 or h < 1 or left + w > width or top + h > height:
        raise ForeignFormatError(
            f"a mask's box ({left}, {top}, {w}x{h}) is not on the {width}x{height} image", where
        )
    text = element.get("rle") or ""
    try:
        runs = [int(n) for n in text.split(",")]
    except ValueError:
        raise ForeignFormatError("a mask's `rle` is numbers separated by commas", where) from None
    if any(n < 0 for n in runs) or sum(runs) != w * h:
        raise ForeignFormatError(
            f"a mask's `rle` covers {sum(runs)} pixels, not its box's {w}x{h}", where
        )
    canvas = bytearray(width * height)  # the image, row by row
    pos, value = 0, 0
    for run in runs:
        if value:
            end = pos + run
            while pos < end:  # a run may span several rows of the box
                row, column = divmod(pos, w)
                stop = min(end, (row + 1) * w)
                start = (top + row) * width + left + column
                canvas[start : start + stop - pos] = b"\x01" * (stop - pos)
                pos = stop
        else:
            pos += run
        value ^= 1
    return Rle(size=(height, width), counts=coco_counts(canvas, width))
