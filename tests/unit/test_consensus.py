"""Consensus and gold scoring on hand-made cases."""

from __future__ import annotations

import random

import pytest

from aviary.contracts.shapes import (
    Annotation,
    BoxShape,
    ClassificationShape,
    KeypointsShape,
    PolygonShape,
    PolylineShape,
)
from services.review.consensus import (
    consensus,
    keypoints_similarity,
    match_score,
    polygon_iou,
    polyline_similarity,
)
from shared.domain.geometry import Box, iou

W, H = 1000, 1000
DIAGONAL = (W**2 + H**2) ** 0.5


def box(x: float, y: float, w: float, h: float, cls: int = 1, **attrs: object) -> BoxShape:
    return BoxShape(class_id=cls, bbox=(x, y, w, h), attributes=attrs)


def ann(*shapes: object) -> Annotation:
    return Annotation(shapes=shapes)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),  # identical
        ((0, 0, 10, 10), (20, 20, 10, 10), 0.0),  # disjoint
        ((0, 0, 10, 10), (10, 0, 10, 10), 0.0),  # touching edges only
        ((0, 0, 10, 10), (5, 0, 10, 10), 50 / 150),  # half overlap
        ((0, 0, 10, 10), (2, 2, 5, 5), 25 / 100),  # nested
        ((0, 0, 0, 10), (0, 0, 0, 10), 0.0),  # zero area
    ],
)
def test_box_iou(a: Box, b: Box, expected: float) -> None:
    assert iou(a, b) == pytest.approx(expected)


def test_polygon_iou_for_squares_a_triangle_and_a_self_intersecting_bowtie() -> None:
    square = PolygonShape(class_id=1, points=((0, 0), (10, 0), (10, 10), (0, 10)))
    shifted = PolygonShape(class_id=1, points=((5, 0), (15, 0), (15, 10), (5, 10)))
    triangle = PolygonShape(class_id=1, points=((0, 0), (10, 0), (0, 10)))
    assert polygon_iou(square, square) == pytest.approx(1.0)
    assert polygon_iou(square, shifted) == pytest.approx(50 / 150)
    assert polygon_iou(square, triangle) == pytest.approx(0.5)  # nested: 50 / 100
    bowtie = PolygonShape(class_id=1, points=((0, 0), (10, 10), (10, 0), (0, 10)))
    assert 0 < polygon_iou(square, bowtie) < 1  # repaired, not a crash


def test_polyline_and_keypoint_similarity_fall_with_distance() -> None:
    line = PolylineShape(class_id=1, points=((0, 0), (500, 0)))
    assert polyline_similarity(line, line, DIAGONAL) == 1.0
    near = PolylineShape(class_id=1, points=((0, 5), (500, 5)))
    far = PolylineShape(class_id=1, points=((0, 100), (500, 100)))
    assert 0.5 < polyline_similarity(line, near, DIAGONAL) < 1.0
    assert polyline_similarity(line, far, DIAGONAL) == 0.0
    pose = KeypointsShape(class_id=1, keypoints=((10, 10, 2), (20, 20, 2), (0, 0, 0)))
    moved = KeypointsShape(class_id=1, keypoints=((10, 10, 2), (20, 24, 1), (0, 0, 0)))
    missing = KeypointsShape(class_id=1, keypoints=((10, 10, 2), (0, 0, 0), (0, 0, 0)))
    assert keypoints_similarity(pose, pose, DIAGONAL) == 1.0
    assert 0.5 < keypoints_similarity(pose, moved, DIAGONAL) < 1.0
    assert keypoints_similarity(pose, missing, DIAGONAL) == 0.5  # one of two points matches


def test_three_annotators_agree_and_boxes_are_averaged_with_attributes_by_vote() -> None:
    a = ann(box(100, 100, 50, 50, occluded=True), box(500, 500, 20, 20, cls=2))
    b = ann(box(102, 100, 50, 52, occluded=True), box(501, 500, 20, 20, cls=2))
    c = ann(box(104, 100, 50, 54, occluded=False), box(502, 500, 20, 20, cls=2))
    result = consensus([a, b, c], W, H)
    assert result.agreement == 1.0 and result.disputed_shapes == 0
    assert result.per_annotator == (1.0, 1.0, 1.0)
    merged = sorted(result.merged.shapes, key=lambda s: s.class_id)
    assert merged[0].bbox == (102, 100, 50, 52)  # type: ignore[union-attr]
    assert merged[0].attributes == {"occluded": True}
    assert merged[1].bbox == (501, 500, 20, 20)  # type: ignore[union-attr]


def test_a_shape_only_one_of_three_drew_is_outvoted_and_lowers_agreement() -> None:
    a = ann(box(100, 100, 50, 50), box(700, 700, 30, 30))
    b = ann(box(100, 100, 50, 50))
    c = ann(box(101, 101, 50, 50))
    result = consensus([a, b, c], W, H)
    assert len(result.merged.shapes) == 1
    assert result.disputed_shapes == 1
    assert result.agreement == pytest.approx(3 / 4)
    assert result.per_annotator == (0.5, 1.0, 1.0)
    assert not result.accepted(0.8) and result.accepted(0.75)


def test_classes_never_match_across_and_one_shape_per_annotator_per_cluster() -> None:
    a = ann(box(100, 100, 50, 50, cls=1), box(100, 100, 50, 50, cls=1))  # a drew it twice
    b = ann(box(100, 100, 50, 50, cls=2))
    result = consensus([a, b], W, H)
    assert result.merged.shapes == () and result.agreement == 0.0
    twice = consensus([a, ann(box(100, 100, 50, 50, cls=1))], W, H)
    assert len(twice.merged.shapes) == 1 and twice.disputed_shapes == 1


def test_image_level_classes_agree_by_equality_and_empty_images_agree() -> None:
    street = ClassificationShape(class_id=3)
    road = ClassificationShape(class_id=4)
    assert consensus([ann(street), ann(street), ann(road)], W, H).merged.shapes == (street,)
    assert consensus([ann(), ann()], W, H).agreement == 1.0


def test_match_score_is_an_f1_of_matched_shapes() -> None:
    answer = ann(box(100, 100, 50, 50), box(300, 300, 50, 50))
    assert match_score(answer, answer, W, H) == 1.0
    half = ann(box(100, 100, 50, 50))
    assert match_score(answer, half, W, H) == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert match_score(answer, ann(box(900, 900, 10, 10)), W, H) == 0.0
    assert match_score(ann(), ann(), W, H) == 1.0


def test_three_times_thirty_jittered_boxes_all_find_their_partners() -> None:
    rng = random.Random(3)
    truth = [(rng.uniform(0, 900), rng.uniform(0, 900), 60, 40) for _ in range(30)]
    versions = [
        ann(*(box(x + rng.uniform(-3, 3), y + rng.uniform(-3, 3), w, h) for x, y, w, h in truth))
        for _ in range(3)
    ]
    result = consensus(versions, W, H)
    assert result.agreed_clusters == 30 and result.agreement == 1.0
