"""Pixel masks as COCO writes them (run-length encoded), and their outlines.

Pure functions (numpy and OpenCV, no I/O), shared by validation, review's agreement, exports and
the assist service, so every one of them reads a mask the same way pycocotools does:

- A mask is `height` x `width` booleans. Its runs are counted column by column (column-major, as
  COCO does), starting with a run of zeros (0 when the first pixel is set).
- `counts` is either the list of run lengths (COCO's "uncompressed" RLE) or COCO's compressed
  string: each run, minus the run two before it from the fourth run on, written 5 bits at a
  time, low bits first, as characters from '0' (48), with 0x20 marking "more to come" and 0x10
  the sign of the last character.
- Coordinates are continuous image coordinates with pixel edges at integers, as for polygons:
  pixel (row r, column c) covers [c, c + 1] x [r, r + 1]. A mask's box is the box of its pixels'
  edges, the same numbers pycocotools' `toBbox` gives.
- An outline (`mask_to_polygon`) passes through the centres of the object's boundary pixels, so
  `polygon_to_mask` fills exactly the pixels it came from (with no simplification); its shoelace
  area is smaller than the pixel count by about half the perimeter. (The pixel count is a mask's
  area, as in COCO.)
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from shapely.geometry import LinearRing, MultiPolygon, Polygon

from aviary.contracts.shapes import Point, Rle, polygon_area

Box = tuple[float, float, float, float]

# A run is at most this many characters in a compressed string (5 bits each: 60 bits).
_MAX_CHARS = 12


class RleError(ValueError):
    """Counts that are not a mask: malformed, negative, or not covering height x width."""


# ----- run lengths -----------------------------------------------------------------------------


def runs_of(mask: np.ndarray) -> np.ndarray:
    """The run lengths (int64) of a 2-D mask, column by column, starting with zeros."""
    if mask.ndim != 2:
        raise ValueError(f"a mask has two dimensions, not {mask.ndim}")
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return np.zeros(1, dtype=np.int64)
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(edges).astype(np.int64)
    return np.concatenate(([0], runs)) if flat[0] else runs


def counts_to_string(counts: np.ndarray) -> str:
    """COCO's compressed form of run lengths (pycocotools' `rleToString`)."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.size == 0:
        return ""
    x = counts.copy()
    x[3:] -= counts[1:-2]  # from the fourth run on: the difference to the run two before
    chars = np.zeros((x.size, _MAX_CHARS), dtype=np.int64)
    used = np.zeros((x.size, _MAX_CHARS), dtype=bool)
    more = np.ones(x.size, dtype=bool)
    for k in range(_MAX_CHARS):
        c = x & 0x1F
        x >>= 5  # arithmetic shift: negative differences keep their sign
        used[:, k] = more
        more_after = more & np.where(c & 0x10, x != -1, x != 0)
        chars[:, k] = c | np.where(more_after, 0x20, 0)
        more = more_after
        if not more.any():
            break
    return (chars[used] + 48).astype(np.uint8).tobytes().decode("ascii")


def string_to_counts(text: str) -> np.ndarray:
    """Run lengths from COCO's compressed string (pycocotools' `rleFrString`)."""
    try:
        raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64)
    except UnicodeEncodeError:
        raise RleError("the counts string holds characters outside '0'..'o'") from None
    if raw.size == 0:
        return np.zeros(0, dtype=np.int64)
    c = raw - 48
    if c.min() < 0 or c.max() > 63:
        raise RleError("the counts string holds characters outside '0'..'o'")
    last = (c & 0x20) == 0  # the character that ends a number
    if not last[-1]:
        raise RleError("the counts string ends in the middle of a number")
    number = np.concatenate(([0], np.cumsum(last)[:-1]))  # which number each character is in
    starts = np.flatnonzero(np.concatenate(([True], last[:-1])))
    k = np.arange(c.size) - starts[number]  # position of the character within its number
    if k.max() >= _MAX_CHARS:
        raise RleError("the counts string holds a number too long to be a run")
    x = np.zeros(starts.size, dtype=np.int64)
    np.add.at(x, number, (c & 0x1F) << (5 * k))
    ends = np.flatnonzero(last)
    negative = (c[ends] & 0x10) != 0
    x[negative] |= -1 << (5 * (k[ends][negative] + 1))  # sign-extend from the last character
    # Undo the differences: runs 1, 3, 5... and 2, 4, 6... are each a running sum.
    counts = x.copy()
    counts[1::2] = np.cumsum(x[1::2])
    counts[2::2] = np.cumsum(x[2::2])
    return counts


# Review compares each mask with several others: a mask's counts are parsed once. Only
# ordinary masks are kept (a few thousand runs), so the cache stays a few megabytes at most.
_CACHED_LENGTH = 20_000


def _parse(counts: str | tuple[int, ...]) -> np.ndarray:
    parsed = (
        string_to_counts(counts)
        if isinstance(counts, str)
        else np.asarray(counts, dtype=np.int64).reshape(-1)
    )
    if parsed.size and parsed.min() < 0:
        raise RleError("the counts hold a negative run")
    parsed.setflags(write=False)
    return parsed


_parse_cached = lru_cache(maxsize=128)(_parse)


def _parsed(counts: str | tuple[int, ...]) -> np.ndarray:
    return _parse_cached(counts) if len(counts) <= _CACHED_LENGTH else _parse(counts)


def counts_of(rle: Rle) -> np.ndarray:
    """The run lengths of a mask, checked: none negative, and covering height x width."""
    height, width = rle.size
    if height <= 0 or width <= 0:
        raise RleError(f"a mask of {height}x{width} pixels (height x width) is empty")
    counts = _parsed(rle.counts)
    total = int(counts.sum())
    if total != height * width:
        raise RleError(f"the counts cover {total} pixels, not {height} x {width}")
    return counts


# ----- masks and RLEs --------------------------------------------------------------------------


def encode(mask: np.ndarray) -> Rle:
    """A 2-D mask as an RLE with compressed counts, as pycocotools' `encode` writes it."""
    height, width = mask.shape
    return Rle(size=(height, width), counts=counts_to_string(runs_of(mask)))


def encode_uncompressed(mask: np.ndarray) -> Rle:
    """A 2-D mask as an RLE with the counts as a list (COCO's uncompressed form)."""
    height, width = mask.shape
    return Rle(size=(height, width), counts=tuple(int(n) for n in runs_of(mask)))


def compressed(rle: Rle) -> Rle:
    """The same mask with compressed counts."""
    if isinstance(rle.counts, str):
        return rle
    return Rle(size=rle.size, counts=counts_to_string(counts_of(rle)))


def uncompressed(rle: Rle) -> Rle:
    """The same mask with the counts as a list."""
    if not isinstance(rle.counts, str):
        return rle
    return Rle(size=rle.size, counts=tuple(int(n) for n in counts_of(rle)))


def decode(rle: Rle) -> np.ndarray:
    """The mask, `height` x `width` booleans."""
    height, width = rle.size
    counts = counts_of(rle)
    values = np.arange(counts.size) % 2 == 1
    return np.repeat(values, counts).reshape((height, width), order="F")


def area(rle: Rle) -> int:
    """How many pixels are set."""
    return int(counts_of(rle)[1::2].sum())


def _set_runs(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last pixel (column-major index) of every run of set pixels."""
    ends = np.cumsum(counts)
    first = ends[0::2][: counts[1::2].size]
    lengths = counts[1::2]
    keep = lengths > 0
    return first[keep], (first + lengths - 1)[keep]


def bbox(rle: Rle) -> Box:
    """The box (x, y, w, h) around the set pixels; (0, 0, 0, 0) for an empty mask."""
    height = rle.size[0]
    first, last = _set_runs(counts_of(rle))
    if first.size == 0:
        return (0.0, 0.0, 0.0, 0.0)
    x0, x1 = first // height, last // height
    if (x1 > x0).any():  # a run that wraps into the next column covers every row between
        y0, y1 = 0, height - 1
    else:
        y0, y1 = int((first % height).min()), int((last % height).max())
    left, right = int(x0.min()), int(x1.max())
    return (float(left), float(y0), float(right - left + 1), float(y1 - y0 + 1))


def intersection(a: Rle, b: Rle) -> int:
    """Pixels set in both masks (of one size), counted on the runs without decoding."""
    if tuple(a.size) != tuple(b.size):
        raise ValueError(f"masks of sizes {a.size} and {b.size} cannot be compared")
    ends_a, ends_b = np.cumsum(counts_of(a)), np.cumsum(counts_of(b))
    # Cut the pixels at every run boundary of either mask; within a piece neither changes.
    cuts = np.union1d(ends_a, ends_b)
    starts = np.concatenate(([0], cuts[:-1]))
    on_a = np.searchsorted(ends_a, starts, side="right") % 2 == 1
    on_b = np.searchsorted(ends_b, starts, side="right") % 2 == 1
    return int((cuts - starts)[on_a & on_b].sum())


def mask_iou(a: Rle, b: Rle) -> float:
    """Intersection over union of two masks of one size; 0 when both are empty."""
    inter = intersection(a, b)
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


# ----- outlines --------------------------------------------------------------------------------


def mask_to_polygon(mask: np.ndarray, tolerance: float = 1.0) -> tuple[Point, ...] | None:
    """The outline of the mask's largest part (its outer edge; holes are not kept), simplified
    so that no pixel of it is more than `tolerance` pixels off (Douglas-Peucker); None for an
    empty mask. The outline is a simple polygon (what validation asks of a polygon): a part
    too thin to have an inside (a pixel, a one-pixel line) gives the box around its pixels,
    and one-pixel spikes are cut off."""
    import cv2  # OpenCV's 36 MB load where masks meet outlines, not in every service

    if mask.ndim != 2:
        raise ValueError(f"a mask has two dimensions, not {mask.ndim}")
    image = np.ascontiguousarray(mask, dtype=np.uint8)
    contours, _ = cv2.findContours(image, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    # The largest part by area, then by length: a thin part has no area but has pixels.
    contour = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    # Simplified if that leaves an inside (a narrow part may collapse to a line), else not.
    tries = [cv2.approxPolyDP(contour, tolerance, True), contour] if tolerance > 0 else [contour]
    for outline in tries:
        points = _simple([(float(x) + 0.5, float(y) + 0.5) for x, y in outline.reshape(-1, 2)])
        if points is not None:
            return points
    # A quarter of a pixel inside the pixels' edges: it has an area, and fills them back.
    x, y, w, h = cv2.boundingRect(contour)
    left, top, right, bottom = x + 0.25, y + 0.25, x + w - 0.25, y + h - 0.25
    return ((left, top), (right, top), (right, bottom), (left, bottom))


def rle_to_polygon(rle: Rle, tolerance: float = 1.0) -> tuple[Point, ...] | None:
    """`mask_to_polygon` of an RLE, traced on the crop around its pixels (a small object in a
    large image is quick), in the image's coordinates."""
    x, y, w, h = (int(v) for v in bbox(rle))
    if w == 0:
        return None
    crop = decode(rle)[y : y + h, x : x + w]
    points = mask_to_polygon(crop, tolerance)
    if points is None:
        return None
    return tuple((px + x, py + y) for px, py in points)


def _simple(points: list[Point]) -> tuple[Point, ...] | None:
    """The points as a simple polygon with an area; where the outline touches or crosses
    itself (a one-pixel neck or spike), the largest piece of its inside."""
    if len(points) < 3 or polygon_area(points) <= 0:
        return None
    if LinearRing(points).is_simple:
        return tuple(points)
    fixed = Polygon(points).buffer(0)
    pieces = list(fixed.geoms) if isinstance(fixed, MultiPolygon) else [fixed]
    best = max(pieces, key=lambda p: p.area)
    if not isinstance(best, Polygon) or best.area <= 0:
        return None
    return tuple((float(x), float(y)) for x, y in best.exterior.coords[:-1])


def polygon_to_mask(points: tuple[Point, ...] | list[Point], height: int, width: int) -> np.ndarray:
    """The polygon's pixels, by OpenCV's rule (`fillPoly`): the outline's corners rounded to
    the nearest pixel centre, and the pixels the outline crosses included. It fills back
    exactly the mask an outline of `mask_to_polygon` came from (with no simplification); a
    polygon drawn along pixel edges gains up to a pixel on its right and bottom sides."""
    import cv2

    shift = 8  # OpenCV takes fixed-point coordinates: 1/256 of a pixel
    scaled = np.round((np.asarray(points, dtype=np.float64) - 0.5) * (1 << shift))
    canvas = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(canvas, [scaled.astype(np.int32).reshape(-1, 1, 2)], 1, cv2.LINE_8, shift)
    return canvas.astype(bool)


def rle_of_polygon(points: tuple[Point, ...] | list[Point], height: int, width: int) -> Rle:
    """A polygon as a mask of an image's size (compressed RLE)."""
    return encode(polygon_to_mask(points, height, width))
