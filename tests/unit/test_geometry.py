"""Unit tests for shared/domain/geometry.py: IoU, greedy class-aware box matching, and the box
around each kind of shape."""

from __future__ import annotations

import numpy as np
import pytest

from aviary.contracts.shapes import (
    BoxShape,
    ClassificationShape,
    KeypointsShape,
    MaskShape,
    PolygonShape,
    PolylineShape,
)
from shared.domain import masks
from shared.domain.geometry import Box, iou, match_boxes, shape_box


def test_identical_boxes() -> None:
    assert iou((10, 20, 30, 40), (10, 20, 30, 40)) == pytest.approx(1.0)
    assert iou((0.5, 0.5, 0.25, 0.125), (0.5, 0.5, 0.25, 0.125)) == pytest.approx(1.0)


def test_disjoint_boxes() -> None:
    assert iou((0, 0, 10, 10), (20, 20, 10, 10)) == 0.0
    assert iou((0, 0, 10, 10), (0, 50, 10, 10)) == 0.0  # overlap in x only
    assert iou((0, 0, 10, 10), (50, 0, 10, 10)) == 0.0  # overlap in y only


@pytest.mark.parametrize(
    "other",
    [(10, 0, 10, 10), (0, 10, 10, 10), (-10, 0, 10, 10), (0, -10, 10, 10), (10, 10, 5, 5)],
)
def test_touching_edges_or_corners_do_not_overlap(other: Box) -> None:
    assert iou((0, 0, 10, 10), other) == 0.0
    assert iou(other, (0, 0, 10, 10)) == 0.0


def test_nested_box_gives_area_ratio() -> None:
    big: Box = (0, 0, 100, 50)  # 5000
    small: Box = (10, 10, 20, 25)  # 500
    assert iou(big, small) == pytest.approx(0.1)
    assert iou(small, big) == pytest.approx(0.1)


def test_half_overlap_by_hand() -> None:
    # Two 10x10 boxes shifted by 5: intersection 50, union 150.
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)
    # Shifted by 5 in both directions: intersection 25, union 175.
    assert iou((0, 0, 10, 10), (5, 5, 10, 10)) == pytest.approx(25 / 175)
    # Different sizes: (0,0,4,2) area 8 and (2,1,4,4) area 16: intersection 2x1 = 2, union 22.
    assert iou((0, 0, 4, 2), (2, 1, 4, 4)) == pytest.approx(2 / 22)


def test_iou_is_symmetric() -> None:
    a: Box = (3, 7, 11, 5)
    b: Box = (6, 4, 9, 13)
    assert iou(a, b) == pytest.approx(iou(b, a))
    assert 0.0 < iou(a, b) < 1.0


@pytest.mark.parametrize("empty", [(5, 5, 0, 0), (5, 5, 0, 10), (5, 5, 10, 0), (0, 0, 0, 0)])
def test_zero_area_box_gives_zero(empty: Box) -> None:
    assert iou(empty, (0, 0, 20, 20)) == 0.0
    assert iou((0, 0, 20, 20), empty) == 0.0
    assert iou(empty, empty) == 0.0


# ----- match_boxes -------------------------------------------------------------------------------


def test_identical_sets_all_match() -> None:
    boxes = [(1, (0.0, 0.0, 10.0, 10.0)), (2, (50.0, 50.0, 20.0, 20.0)), (1, (100.0, 0, 5, 5))]
    assert match_boxes(boxes, list(reversed(boxes)), 0.5) == (3, 0, 0)


def test_empty_sides() -> None:
    one = [(1, (0.0, 0.0, 10.0, 10.0))]
    assert match_boxes([], [], 0.5) == (0, 0, 0)
    assert match_boxes(one, [], 0.5) == (0, 1, 0)
    assert match_boxes([], one, 0.5) == (0, 0, 1)


def test_same_box_different_class_does_not_match() -> None:
    assert match_boxes([(1, (0, 0, 10, 10))], [(2, (0, 0, 10, 10))], 0.5) == (0, 1, 1)


def test_matching_is_one_to_one() -> None:
    # Two left boxes both cover the one right box well: only one may claim it.
    left = [(1, (0.0, 0.0, 10.0, 10.0)), (1, (0.0, 0.0, 10.0, 9.0))]
    right = [(1, (0.0, 0.0, 10.0, 10.0))]
    assert match_boxes(left, right, 0.5) == (1, 1, 0)
    assert match_boxes(right, left, 0.5) == (1, 0, 1)


def test_duplicates_on_both_sides_pair_up() -> None:
    box = (0.0, 0.0, 10.0, 10.0)
    assert match_boxes([(1, box)] * 3, [(1, box)] * 2, 0.5) == (2, 1, 0)


def test_best_pair_wins() -> None:
    # Right box R overlaps L0 with IoU 0.9 and L1 with IoU 0.6: it pairs with L0, L1 is left over.
    right = [(1, (0.0, 0.0, 10.0, 10.0))]
    left = [(1, (0.0, 0.0, 10.0, 6.0)), (1, (0.0, 0.0, 10.0, 9.0))]
    assert match_boxes(left, right, 0.5) == (1, 1, 0)
    # With a threshold between the two IoUs, the result is the same: only the 0.9 pair qualifies.
    assert match_boxes(left, right, 0.7) == (1, 1, 0)
    # Above both, nothing matches.
    assert match_boxes(left, right, 0.95) == (0, 2, 1)


def test_threshold_is_inclusive() -> None:
    # IoU of these two is exactly 0.5 (area 50 inside area 100).
    left = [(1, (0.0, 0.0, 10.0, 10.0))]
    right = [(1, (0.0, 0.0, 5.0, 10.0))]
    assert iou(left[0][1], right[0][1]) == 0.5
    assert match_boxes(left, right, 0.5) == (1, 0, 0)
    assert match_boxes(left, right, 0.51) == (0, 1, 1)


def test_disjoint_same_class_boxes_do_not_match() -> None:
    left = [(1, (0.0, 0.0, 10.0, 10.0))]
    right = [(1, (30.0, 30.0, 10.0, 10.0))]
    assert match_boxes(left, right, 0.5) == (0, 1, 1)


def test_mixed_scene_counts() -> None:
    left = [
        (1, (0.0, 0.0, 10.0, 10.0)),  # matches right[0]
        (2, (20.0, 20.0, 10.0, 10.0)),  # matches right[2] (class 2)
        (1, (20.0, 20.0, 10.0, 10.0)),  # same place as right[2] but class 1: no match
        (3, (100.0, 100.0, 5.0, 5.0)),  # nothing nearby
    ]
    right = [
        (1, (1.0, 1.0, 10.0, 10.0)),  # IoU 81/119 = 0.68 with left[0]
        (1, (200.0, 200.0, 10.0, 10.0)),  # alone
        (2, (21.0, 20.0, 10.0, 10.0)),  # IoU 90/110 = 0.82 with left[1]
    ]
    assert match_boxes(left, right, 0.5) == (2, 2, 1)
    assert match_boxes(left, right, 0.75) == (1, 3, 2)


# ----- shape_box ---------------------------------------------------------------------------------


def test_the_box_around_each_kind_of_shape() -> None:
    assert shape_box(BoxShape(class_id=1, bbox=(1, 2, 3, 4))) == (1, 2, 3, 4)
    assert shape_box(PolygonShape(class_id=1, points=((1, 1), (5, 2), (3, 7)))) == (1, 1, 4, 6)
    assert shape_box(PolylineShape(class_id=1, points=((4, 1), (0, 3)))) == (0, 1, 4, 2)
    pose = KeypointsShape(class_id=1, keypoints=((2, 2, 2), (0, 0, 0), (6, 9, 1)))
    assert shape_box(pose) == (2, 2, 4, 7)  # not the unlabeled 0, 0
    assert shape_box(KeypointsShape(class_id=1, keypoints=((0, 0, 0),))) is None
    assert shape_box(ClassificationShape(class_id=1)) is None


def test_the_box_around_a_mask_is_around_its_pixels() -> None:
    pixels = np.zeros((20, 30), dtype=bool)
    pixels[3:8, 10:12] = True  # rows 3..7, columns 10..11
    assert shape_box(MaskShape(class_id=1, rle=masks.encode(pixels))) == (10, 3, 2, 5)
    empty = masks.encode(np.zeros((20, 30), dtype=bool))
    assert shape_box(MaskShape(class_id=1, rle=empty)) is None
