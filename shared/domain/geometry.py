"""Geometry shared by review, the simulators and tests: boxes as (x, y, w, h)."""

from __future__ import annotations

from collections.abc import Sequence

Box = tuple[float, float, float, float]


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
