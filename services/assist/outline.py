"""A cut-out as the API returns it: the outline of its largest part as a polygon, the whole
mask as COCO RLE the size of the image, and the box around the mask.

Masks are read and written as shared/domain/masks.py says (pycocotools' conventions), so what
assist returns is what validation, review and the exports read back. Only the cut-out's own
columns are run-length encoded: the columns left and right of it are one run of zeros each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aviary.contracts.shapes import Point, Rle
from services.assist.segmenter import Box, Cutout
from shared.domain import masks

# How far the polygon may stray from the mask's edge, in pixels (Douglas-Peucker): a car's
# outline keeps 20 to 40 points, and its IoU with the mask stays above 0.98.
TOLERANCE_PX = 1.0


@dataclass(frozen=True)
class Outline:
    polygon: list[Point]
    rle: Rle
    bbox: Box


def outline(cutout: Cutout, width: int, height: int) -> Outline:
    """The cut-out in image coordinates; a mask reaching past the image is cut at its edge."""
    mask = _inside(cutout, width, height)
    left, top = max(0, cutout.left), max(0, cutout.top)
    points = masks.mask_to_polygon(mask, TOLERANCE_PX) if mask.any() else None
    if points is None:
        raise ValueError("an empty cut-out has no outline")
    polygon = [(x + left, y + top) for x, y in points]
    return Outline(polygon, _rle(mask, left, top, width, height), _bbox(mask, left, top))


def _inside(cutout: Cutout, width: int, height: int) -> np.ndarray:
    """The part of the cut-out's mask that lies on the image."""
    mask = np.asarray(cutout.mask, dtype=bool)
    skip_x, skip_y = max(0, -cutout.left), max(0, -cutout.top)
    left, top = max(0, cutout.left), max(0, cutout.top)
    return mask[skip_y : skip_y + height - top, skip_x : skip_x + width - left]


def _rle(mask: np.ndarray, left: int, top: int, width: int, height: int) -> Rle:
    """COCO RLE of the whole image, counting runs only over the cut-out's columns."""
    columns = np.zeros((height, mask.shape[1]), dtype=bool)
    columns[top : top + mask.shape[0]] = mask
    runs = masks.runs_of(columns)
    before, after = left * height, (width - left - mask.shape[1]) * height
    runs[0] += before  # runs start with zeros (0 long when the first pixel is set)
    if after:
        if runs.size % 2 == 1:  # the last run is zeros
            runs[-1] += after
        else:
            runs = np.append(runs, after)
    return Rle(size=(height, width), counts=masks.counts_to_string(runs))


def _bbox(mask: np.ndarray, left: int, top: int) -> Box:
    """The box around the set pixels' edges, as masks.bbox gives it."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return (
        float(left + cols[0]),
        float(top + rows[0]),
        float(cols[-1] - cols[0] + 1),
        float(rows[-1] - rows[0] + 1),
    )
