"""Geometry shared by review, exports, the simulators and tests: boxes as (x, y, w, h).

Masks have their own module (`shared/domain/masks.py`: run lengths, mask IoU, outlines); the
box around any shape is here, a mask's being the box of its pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

from aviary.contracts.shapes import (
    BoxShape,
    KeypointsShape,
    MaskShape,
    PolygonShape,
    PolylineShape,
    Shape,
    bounds,
)
from shared.domain import masks

Box = tuple[float, float, float, float]


def shape_box(shape: Shape) -> Box | None:
    """The box around a shape (a keypoints shape's labeled points only); None where there is
    nothing to put a box around (an image-level class, no labeled keypoint, an empty mask)."""
    if isinstance(shape, BoxShape):
        return shape.outer_box()
    if isinstance(shape, PolygonShape):
        return bounds(shape.points)
    if isinstance(shape, PolylineShape):
        return bounds(shape.line())
    if isinstance(shape, KeypointsShape):
        labeled = [(x, y) for x, y, v in shape.keypoints if v > 0]
        return bounds(labeled) if labeled else None
    if isinstance(shape, MaskShape):
        box = masks.bbox(shape.rle)
        return box if box[2] > 0 else None
    return None


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes; 0 when either has no area."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def match_boxes(
    left: Sequence[tuple[int, Box]], right: Sequence[tuple[int, Box]], threshold: float
) -> tuple[int, int, int]:
    """Greedy one-to-one matching by IoU within a class: (matched, only left, only right)."""
    pairs = sorted(
        (
            (iou(a, b), i, j)
            for i, (ca, a) in enumerate(left)
            for j, (cb, b) in enumerate(right)
            if ca == cb
        ),
        reverse=True,
    )
    used_left: set[int] = set()
    used_right: set[int] = set()
    for score, i, j in pairs:
        if score < threshold:
            break
        if i not in used_left and j not in used_right:
            used_left.add(i)
            used_right.add(j)
    matched = len(used_left)
    return matched, len(left) - matched, len(right) - matched
