"""Consensus and gold scoring on hand-made cases."""

from __future__ import annotations

import random

import numpy as np
import pytest

from aviary.contracts.shapes import (
    Annotation,
    BoxShape,
    ClassificationShape,
    KeypointsShape,
    MaskShape,
    PolygonShape,
    PolylineShape,
    ShapeSource,
)
from services.review.consensus import (
    consensus,
    keypoints_similarity,
    mask_similarity,
    match_score,
    polygon_iou,
    polyline_similarity,
)
from shared.domain import masks
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


# ----- masks and provenance ----------------------------------------------------------------------

MW, MH = 200, 100
PROPOSED = ShapeSource(by="model", model="segmenter@2", confidence=0.8)


def square_mask(x: int, y: int, side: int, cls: int = 5, **source: object) -> MaskShape:
    pixels = np.zeros((MH, MW), dtype=bool)
    pixels[y : y + side, x : x + side] = True
    made = ShapeSource.model_validate(source) if source else None
    return MaskShape(class_id=cls, rle=masks.encode(pixels), source=made)


def test_mask_similarity_is_the_pixel_iou() -> None:
    a, b = square_mask(10, 10, 20), square_mask(20, 10, 20)  # 10 x 20 shared of 600
    assert mask_similarity(a, b) == pytest.approx(200 / 600)
    assert mask_similarity(a, a) == 1.0
    assert mask_similarity(a, square_mask(100, 50, 20)) == 0.0
    other_size = MaskShape(class_id=5, rle=masks.encode(np.ones((MW, MH), dtype=bool)))
    assert mask_similarity(a, other_size) == 0.0


def test_masks_agree_by_iou_and_merge_to_their_medoid_with_its_source() -> None:
    a = ann(square_mask(50, 20, 40, **PROPOSED.model_dump()), square_mask(150, 10, 10))
    b = ann(square_mask(52, 20, 40, by="model_edited", model="segmenter@2"))
    c = ann(square_mask(54, 20, 40))  # b's is nearest both others: the medoid
    result = consensus([a, b, c], MW, MH)
    assert (result.agreed_clusters, result.disputed_shapes) == (1, 1)
    [merged] = result.merged.shapes
    assert merged == b.shapes[0]
    assert merged.source == ShapeSource(by="model_edited", model="segmenter@2")


def test_masks_apart_or_of_other_classes_do_not_agree() -> None:
    far = consensus([ann(square_mask(10, 10, 20)), ann(square_mask(25, 10, 20))], MW, MH)
    assert far.merged.shapes == () and far.agreement == 0.0  # IoU 5 x 20 / 700
    other = consensus([ann(square_mask(10, 10, 20)), ann(square_mask(10, 10, 20, cls=6))], MW, MH)
    assert other.merged.shapes == ()


def test_gold_scores_masks_by_mask_iou() -> None:
    answer = ann(square_mask(10, 10, 30), square_mask(100, 50, 30))
    assert match_score(answer, answer, MW, MH) == 1.0
    close = ann(square_mask(12, 12, 30), square_mask(100, 50, 30))
    assert match_score(answer, close, MW, MH) == 1.0  # IoU 28 x 28 / 1016 > 0.5
    assert match_score(answer, ann(square_mask(10, 10, 30)), MW, MH) == pytest.approx(2 / 3)
    assert match_score(answer, ann(square_mask(150, 0, 30)), MW, MH) == 0.0


def test_averaged_boxes_keep_a_common_source_and_are_edited_otherwise() -> None:
    kept = box(100, 100, 50, 50).model_copy(update={"source": PROPOSED})
    alone = consensus([ann(kept)], W, H).merged.shapes[0]
    assert alone.source == PROPOSED  # one annotator kept the proposal as it was
    assert consensus([ann(kept), ann(kept)], W, H).merged.shapes[0].source == PROPOSED
    mixed = consensus([ann(kept), ann(box(102, 100, 50, 50)), ann(kept)], W, H)
    assert mixed.merged.shapes[0].source == ShapeSource(by="model_edited", model="segmenter@2")
    by_hand = consensus([ann(box(100, 100, 50, 50)), ann(box(102, 100, 50, 50))], W, H)
    assert by_hand.merged.shapes[0].source is None
