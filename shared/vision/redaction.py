"""Redaction: blur faces and number plates out of a picture, for the projects that must not
show them to annotators, or must not deliver them to the client (privacy law, a client's own
rules). Pure and service-independent: bytes in, bytes out, no storage, no events.

Detection is OpenCV's Haar cascades, shipped inside the opencv wheel (`cv2.data.haarcascades`):
no model weights to download, install or license. They are old and miss things (faces turned
away, small or dark faces, plates of other countries than the cascade's Russian ones), so the
detections are a default, not a guarantee: annotators add or correct regions (`kind`
"manual", drawn as box shapes and read with `regions_from_shapes`), and whatever either says is
blurred.

Speed (the goal: 20 JPEG street pictures of 1280x720 a second, decoded, searched, blurred and
encoded, in one process on two cores) is what shapes `Detector`: a cascade's cost grows with
the pixels it searches, so it searches a grey copy scaled down by `SCALE`, and the smallest
thing it finds grows as the copy shrinks (see `SCALE`).

The blur leaves nothing to recover: each region is first reduced to a few cells (`CELLS`
across its longer side), each the mean of its pixels, and only then smoothed, so what ends up
in a region is a function of those few means and no trace of faces or characters.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "CELLS",
    "SCALE",
    "SEARCHES",
    "Detector",
    "Finder",
    "Finders",
    "RedactionResult",
    "Region",
    "Search",
    "blur_regions",
    "default_detector",
    "merge_regions",
    "redact_jpeg",
    "redact_rgb",
    "regions_from_shapes",
]

Kind = Literal["face", "plate", "manual"]
Picture = npt.NDArray[np.uint8]  # height x width x 3, BGR (as cv2.imdecode gives)

# The grey copy the cascades search is this fraction of the picture's size. A cascade looks
# through a window of fixed size (the frontal-face one's is 24x24 pixels, the profile one's
# 20x20, the plate one's 60x20) over a pyramid of ever smaller copies, so the smallest thing
# it finds is its window over the scale: at 0.4, faces whose box (brows to mouth, about the
# face's width) is 60 px, plates 150 px wide. Its cost goes with the pixels searched, the
# square of the scale. Whole `redact_jpeg` calls on the simulator's 1280x720 street scenes, on
# this project's two-core machine (`bench/figures/redaction_speed.py`; CPU per picture is
# the steadier figure when other processes share the cores):
#   scale 1.0: faces from 24 px (a person some 7 m away, 60-degree lens)  320 CPU-ms, 3.6/s
#   scale 0.5: faces from 48 px                                           102 CPU-ms, ~16/s
#   scale 0.4: faces from 60 px (some 3 m away), plates from 150 px       77 CPU-ms, 20-23/s
# Only the last meets the goal of 20 a second, so it is the default: finding faces from
# 24 px costs four times the time (the frontal cascade alone, at full size, takes longer than
# the whole budget). Drawn faces (tests/unit/test_redaction.py) are found in 9 places of 10
# from 72 px squares, none under 56. What is smaller is left to the annotators' regions, or
# to `Detector(scale=1.0)` where the time (or cores) can be spent.
SCALE = 0.4
# Each level of a cascade's pyramid is this much smaller than the one before: 1.25 instead of
# the usual 1.1 halves the search. A face between two levels is still found, its box a little
# off in size (the padding below makes up for it).
PYRAMID_STEP = 1.25
# Boxes found by at least this many overlapping windows count (OpenCV's minNeighbors).
MIN_NEIGHBOURS = 3
# How much a found box grows, as a fraction of its width and of its height (half on each
# side): a frontal-face box runs from the brows to the mouth, leaving out forehead, chin and
# ears; a plate box is already loose.
PAD: Mapping[Kind, float] = {"face": 0.15, "plate": 0.10, "manual": 0.0}
# Cells across a region's longer side in the blur (see the module's docstring): 4 leaves 16
# means in a face, 4x2 in a plate, far fewer than the characters or features they replace.
CELLS = 4

# The profile cascade costs half as much again as the frontal one and runs twice (mirrored):
# it searches a smaller copy, half of `scale` (0.2: faces turned aside from 100 px). At 0.6
# of it (from 83 px) it took 28 of a picture's 70 CPU-ms, and ingest fell short of 20
# pictures a second.
PROFILE_SCALE = 0.5
# The cascades inside the opencv wheel (`cv2.data.haarcascades`, which OpenCV's type stubs
# leave out).
CASCADES = Path(cv2.__file__).parent / "data"
FRONTAL = "haarcascade_frontalface_default.xml"
PROFILE = "haarcascade_profileface.xml"  # faces turned to one side; mirrored for the other
# Of the wheel's two plate cascades this one finds a drawn Russian plate 60 to 200 px wide
# (tests/unit/test_redaction.py); the 16-stage one found none of them.
PLATE = "haarcascade_russian_plate_number.xml"


@dataclass(frozen=True)
class Region:
    """A rectangle to blur, in pixels of the picture as displayed (EXIF rotation applied),
    left, top, width and height."""

    x: int
    y: int
    w: int
    h: int
    kind: Kind

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    def clipped(self, width: int, height: int) -> Region | None:
        """The part of the region inside a picture of this size; None when nothing is."""
        left, top = max(0, self.x), max(0, self.y)
        right, bottom = min(width, self.right), min(height, self.bottom)
        if right <= left or bottom <= top:
            return None
        return Region(left, top, right - left, bottom - top, self.kind)

    def overlaps(self, other: Region) -> bool:
        return (
            self.x < other.right
            and other.x < self.right
            and self.y < other.bottom
            and other.y < self.bottom
        )


@dataclass(frozen=True)
class RedactionResult:
    """The redacted picture as JPEG, the regions blurred in it (found, then given), and its
    size (that of the picture given: redaction never resizes)."""

    jpeg: bytes
    regions: tuple[Region, ...]
    width: int
    height: int


@dataclass(frozen=True)
class Search:
    """One cascade's search: its file, what it finds, and whether to search the mirror image
    too (the profile cascade knows faces turned one way only)."""

    file: str
    kind: Kind
    mirrored: bool = False
    relative_scale: float = 1.0  # searched at the detector's scale times this


SEARCHES: tuple[Search, ...] = (
    Search(FRONTAL, "face"),
    Search(PROFILE, "face", mirrored=True, relative_scale=PROFILE_SCALE),
    Search(PLATE, "plate"),
)


class Detector:
    """Faces and number plates in a picture, with OpenCV's Haar cascades.

    Each thread that calls `detect` reads the cascades once, for itself (some 20 ms): OpenCV's
    cascade keeps the picture it is searching inside itself, so two threads sharing one would
    mix their pictures up. Searches in different threads run at once: with one shared set
    behind a lock, four clients pushing pictures into ingest waited on each other's searches
    (OpenCV's own threads do not fill two cores: 29 ms of wall for 49 CPU-ms a picture)."""

    def __init__(
        self,
        *,
        scale: float = SCALE,
        pyramid_step: float = PYRAMID_STEP,
        min_neighbours: int = MIN_NEIGHBOURS,
        searches: Sequence[Search] = SEARCHES,
        cascades: Path | None = None,
    ) -> None:
        if not 0 < scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {scale}")
        if pyramid_step <= 1:
            raise ValueError(f"pyramid_step must be over 1, got {pyramid_step}")
        self.scale = scale
        self.pyramid_step = pyramid_step
        self.min_neighbours = min_neighbours
        self._searches = tuple(searches)
        self._folder = cascades if cascades is not None else CASCADES
        self._per_thread = threading.local()

    def _cascades(self) -> list[tuple[Search, cv2.CascadeClassifier]]:
        """This thread's cascades, read on its first call."""
        loaded: list[tuple[Search, cv2.CascadeClassifier]] | None = getattr(
            self._per_thread, "cascades", None
        )
        if loaded is None:
            loaded = []
            for search in self._searches:
                path = self._folder / search.file
                cascade = cv2.CascadeClassifier(str(path))
                if cascade.empty():
                    raise RuntimeError(f"cannot read the cascade {path}")
                loaded.append((search, cascade))
            self._per_thread.cascades = loaded
        return loaded

    def detect(self, image: Picture, *, rgb: bool = False) -> list[Region]:
        """The faces and plates in a BGR picture (RGB with `rgb`, as video frames are
        decoded), padded (`PAD`), overlapping ones of a kind merged, clipped to the picture."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"a BGR picture of bytes is needed, not {image.shape} {image.dtype}")
        height, width = image.shape[:2]
        to_grey = cv2.COLOR_RGB2GRAY if rgb else cv2.COLOR_BGR2GRAY
        grey = cv2.cvtColor(image, to_grey).astype(np.uint8, copy=False)
        copies: dict[tuple[float, bool], Picture] = {}
        cascades = self._cascades()
        found: list[Region] = []
        for search, cascade in cascades:
            scale = min(1.0, self.scale * search.relative_scale)
            for flipped in (False, True) if search.mirrored else (False,):
                copy = copies.get((scale, flipped))
                if copy is None:
                    copy = copies[(scale, flipped)] = _grey_copy(grey, scale, flipped)
                # What one pixel of the copy is in the picture, across and down.
                fx, fy = width / copy.shape[1], height / copy.shape[0]
                boxes = cascade.detectMultiScale(
                    copy, scaleFactor=self.pyramid_step, minNeighbors=self.min_neighbours
                )
                for bx, by, bw, bh in np.asarray(boxes, dtype=np.int64).reshape(-1, 4):
                    left = copy.shape[1] - int(bx) - int(bw) if flipped else int(bx)
                    box = _scaled_back((left, int(by), int(bw), int(bh)), fx, fy)
                    padded = _padded(box, search.kind).clipped(width, height)
                    if padded is not None:
                        found.append(padded)
        return merge_regions(found)


def _grey_copy(grey: Picture, scale: float, flipped: bool) -> Picture:
    if scale < 1:
        height, width = grey.shape[:2]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.uint8, copy=False)
    return cv2.flip(grey, 1).astype(np.uint8, copy=False) if flipped else grey


def _scaled_back(box: tuple[int, int, int, int], fx: float, fy: float) -> tuple[int, ...]:
    """A box of the grey copy in the picture's pixels, rounded outwards."""
    x, y, w, h = box
    left, top = math.floor(x * fx), math.floor(y * fy)
    return left, top, math.ceil((x + w) * fx) - left, math.ceil((y + h) * fy) - top


def _padded(box: tuple[int, ...], kind: Kind) -> Region:
    x, y, w, h = box
    dx, dy = math.ceil(w * PAD[kind] / 2), math.ceil(h * PAD[kind] / 2)
    return Region(x - dx, y - dy, w + 2 * dx, h + 2 * dy, kind)


def merge_regions(regions: Sequence[Region]) -> list[Region]:
    """Regions of a kind that overlap, each replaced by the box around them (repeated until
    none of a kind overlap: a merged box may reach a third); regions of different kinds are
    kept apart (they are blurred alike, and each kind stays what it is for the people who
    correct them). Ordered by kind's first appearance, then top, then left."""
    merged: list[Region] = []
    for kind in dict.fromkeys(r.kind for r in regions):
        pending = [r for r in regions if r.kind == kind]
        changed = True
        while changed:
            changed = False
            out: list[Region] = []
            for region in pending:
                for i, kept in enumerate(out):
                    if kept.overlaps(region):
                        out[i] = _around(kept, region)
                        changed = True
                        break
                else:
                    out.append(region)
            pending = out
        merged.extend(sorted(pending, key=lambda r: (r.y, r.x)))
    return merged


def _around(a: Region, b: Region) -> Region:
    left, top = min(a.x, b.x), min(a.y, b.y)
    return Region(left, top, max(a.right, b.right) - left, max(a.bottom, b.bottom) - top, a.kind)


def blur_regions(image: Picture, regions: Sequence[Region]) -> Picture:
    """A copy of the picture with every region (clipped to it) blurred beyond recovery: the
    region reduced to at most `CELLS` cells across its longer side, each the mean of its
    pixels, then smoothed (a Gaussian of half a cell) so no block edges show. The picture
    given is not changed; pixels outside the regions are the same in the copy."""
    out = image.copy()
    height, width = image.shape[:2]
    for given in regions:
        region = given.clipped(width, height)
        if region is None:
            continue
        x, y, w, h = region.x, region.y, region.w, region.h
        cell = max(1, math.ceil(max(w, h) / CELLS))
        across, down = max(1, math.ceil(w / cell)), max(1, math.ceil(h / cell))
        # Read from the original, not from `out`: overlapping regions blur the same pixels.
        crop = image[y : y + h, x : x + w]
        means = cv2.resize(crop, (across, down), interpolation=cv2.INTER_AREA)
        blocks = cv2.resize(means, (w, h), interpolation=cv2.INTER_NEAREST)
        sigma = cell / 2
        if sigma >= 0.5:
            blocks = cv2.GaussianBlur(blocks, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        out[y : y + h, x : x + w] = blocks
    return out


class Finder(Protocol):
    """What finds regions to blur: the cascades (`Detector`), an operator's model
    (redaction_model.py), or several (`Finders`)."""

    def detect(self, image: Picture, *, rgb: bool = False) -> list[Region]: ...


class Finders:
    """Every region any of the finders finds, overlapping ones of a kind merged."""

    def __init__(self, finders: Sequence[Finder]) -> None:
        if not finders:
            raise ValueError("at least one finder is needed")
        self.finders = tuple(finders)

    def detect(self, image: Picture, *, rgb: bool = False) -> list[Region]:
        return merge_regions([r for f in self.finders for r in f.detect(image, rgb=rgb)])


_DEFAULT: Detector | None = None
_DEFAULT_LOCK = threading.Lock()


def default_detector() -> Detector:
    """The process's detector (its cascades read once)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Detector()
        return _DEFAULT


def redact_jpeg(
    data: bytes,
    *,
    detect: bool = True,
    extra: Sequence[Region] = (),
    quality: int = 90,
    detector: Finder | None = None,
) -> RedactionResult:
    """The picture in `data` (JPEG, or any format OpenCV reads) with its faces and plates
    (unless `detect` is False; found by `detector`, the process's default one if None) and
    the `extra` regions (people's, clipped to the picture) blurred, as a JPEG of the same size.

    Decoded whole, at full size, with the EXIF rotation applied: regions are in the
    displayed picture's pixels, as shapes are. `ValueError` when `data` is not a picture."""
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if decoded is None:
        raise ValueError(f"not a picture OpenCV can read ({len(data)} bytes)")
    image = decoded.astype(np.uint8, copy=False)
    height, width = image.shape[:2]
    found = (detector or default_detector()).detect(image) if detect else []
    given = [c for c in (r.clipped(width, height) for r in extra) if c is not None]
    regions = (*found, *given)
    blurred = blur_regions(image, regions) if regions else image
    ok, encoded = cv2.imencode(".jpg", blurred, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode the redacted picture")
    return RedactionResult(encoded.tobytes(), regions, width, height)


def redact_rgb(
    picture: Picture, *, detector: Finder | None = None
) -> tuple[Picture, tuple[Region, ...]]:
    """A decoded RGB picture (a video's frame) with its faces and plates blurred, and the
    regions blurred; the picture given, unchanged, when there are none."""
    found = tuple((detector or default_detector()).detect(picture, rgb=True))
    return (blur_regions(picture, found) if found else picture), found


def regions_from_shapes(shapes: Sequence[Mapping[str, object]]) -> list[Region]:
    """Regions people drew, from box shapes (`{"bbox": [x, y, w, h], ...}`, floats, as in
    COCO; a `rotation` in degrees, clockwise, gives the box around the turned box). Each is
    widened to whole pixels (it covers every pixel the box touches), its parts left of or
    above the picture cut off; an empty one is left out. `ValueError` for a shape that is
    not a box: a region silently dropped would be a face left showing."""
    regions: list[Region] = []
    for n, shape in enumerate(shapes):
        kind = shape.get("kind", "bbox")
        bbox = shape.get("bbox")
        if kind != "bbox" or not isinstance(bbox, Sequence) or len(bbox) != 4:
            raise ValueError(f"shape {n} is not a box with a bbox [x, y, w, h]: {shape!r}")
        numbers = [_number(v, n) for v in bbox]
        rotation = _number(shape.get("rotation", 0.0), n)
        x, y, w, h = _outer_box(numbers[0], numbers[1], numbers[2], numbers[3], rotation)
        if w <= 0 or h <= 0:
            continue
        left, top = max(0, math.floor(x)), max(0, math.floor(y))
        right, bottom = math.ceil(x + w), math.ceil(y + h)
        if right > left and bottom > top:
            regions.append(Region(left, top, right - left, bottom - top, "manual"))
    return regions


def _number(value: object, n: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"shape {n} has {value!r} where a number belongs")
    return float(value)


def _outer_box(
    x: float, y: float, w: float, h: float, rotation: float
) -> tuple[float, float, float, float]:
    """The axis-aligned box around a box turned `rotation` degrees clockwise about its centre
    (as BoxShape.outer_box)."""
    if not rotation % 360 or w <= 0 or h <= 0:
        return x, y, w, h
    cos, sin = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
    half_w = (abs(w * cos) + abs(h * sin)) / 2
    half_h = (abs(w * sin) + abs(h * cos)) / 2
    cx, cy = x + w / 2, y + h / 2
    return cx - half_w, cy - half_h, 2 * half_w, 2 * half_h
