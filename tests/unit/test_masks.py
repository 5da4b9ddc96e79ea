"""Unit tests for shared/domain/masks.py: COCO run-length encoding, held to pycocotools (the
reference every COCO reader uses) on random and edge-case masks, and outlines of masks.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pycocotools import mask as coco_mask
from shapely.geometry import LinearRing

from aviary.contracts.shapes import Rle
from shared.domain import masks

SIZES = [(1, 1), (1, 7), (7, 1), (2, 3), (5, 5), (13, 31), (64, 48), (97, 101)]


def reference(mask: np.ndarray) -> dict[str, object]:
    encoded: dict[str, object] = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return encoded


def edge_cases(height: int, width: int) -> list[np.ndarray]:
    empty = np.zeros((height, width), dtype=bool)
    full = np.ones((height, width), dtype=bool)
    first, last, middle = empty.copy(), empty.copy(), empty.copy()
    first[0, 0] = True  # the first run of zeros is empty
    last[-1, -1] = True  # the mask ends on a set pixel
    middle[height // 2, width // 2] = True
    column, row = empty.copy(), empty.copy()
    column[:, width // 2] = True
    row[height // 2, :] = True  # a run per column
    return [empty, full, first, last, middle, column, row]


def random_masks(rng: np.random.Generator, height: int, width: int) -> list[np.ndarray]:
    blob = np.zeros((height, width), dtype=np.uint8)
    cv2.circle(blob, (width // 2, height // 2), max(1, min(height, width) // 3), 1, -1)
    return [rng.random((height, width)) < p for p in (0.05, 0.5, 0.95)] + [blob.astype(bool)]


def all_masks() -> list[np.ndarray]:
    rng = np.random.default_rng(24)
    return [m for h, w in SIZES for m in edge_cases(h, w) + random_masks(rng, h, w)]


MASKS = all_masks()


# ----- encoding, against pycocotools -----------------------------------------------------------


@pytest.mark.parametrize("mask", MASKS)
def test_encode_writes_what_pycocotools_writes(mask: np.ndarray) -> None:
    ref = reference(mask)
    rle = masks.encode(mask)
    assert rle.size == tuple(ref["size"])  # type: ignore[arg-type]
    assert rle.counts == ref["counts"].decode()  # type: ignore[attr-defined]


@pytest.mark.parametrize("mask", MASKS)
def test_decode_reads_what_pycocotools_writes(mask: np.ndarray) -> None:
    ref = reference(mask)
    rle = Rle(size=tuple(ref["size"]), counts=ref["counts"].decode())  # type: ignore[arg-type, attr-defined]
    decoded = masks.decode(rle)
    assert decoded.dtype == bool and decoded.shape == mask.shape
    assert (decoded == mask).all()


@pytest.mark.parametrize("mask", MASKS)
def test_uncompressed_counts_are_the_same_mask(mask: np.ndarray) -> None:
    listed = masks.encode_uncompressed(mask)
    assert isinstance(listed.counts, tuple)
    assert sum(listed.counts) == mask.size
    # pycocotools compresses COCO's uncompressed form to the same string
    h, w = mask.shape
    ref = coco_mask.frPyObjects({"size": [h, w], "counts": list(listed.counts)}, h, w)
    assert masks.compressed(listed).counts == ref["counts"].decode()
    assert masks.uncompressed(masks.encode(mask)) == listed
    assert (masks.decode(listed) == mask).all()


@pytest.mark.parametrize("mask", MASKS)
def test_area_and_box_are_pycocotools_own(mask: np.ndarray) -> None:
    ref = reference(mask)
    rle = masks.encode(mask)
    assert masks.area(rle) == int(coco_mask.area(ref)) == int(mask.sum())
    assert list(masks.bbox(rle)) == [float(v) for v in coco_mask.toBbox(ref)]


def test_box_is_around_the_pixels_edges() -> None:
    mask = np.zeros((10, 20), dtype=bool)
    mask[2:5, 3:9] = True  # rows 2..4, columns 3..8
    assert masks.bbox(masks.encode(mask)) == (3, 2, 6, 3)
    assert masks.bbox(masks.encode(np.zeros((4, 4), dtype=bool))) == (0, 0, 0, 0)


def test_iou_is_pycocotools_own() -> None:
    rng = np.random.default_rng(7)
    for h, w in SIZES:
        cases = edge_cases(h, w) + random_masks(rng, h, w)
        for a in cases:
            for b in cases[::3]:
                expected = coco_mask.iou([reference(a)], [reference(b)], [0])[0, 0]
                got = masks.mask_iou(masks.encode(a), masks.encode_uncompressed(b))
                assert got == pytest.approx(expected, abs=1e-12)


def test_iou_of_two_empty_masks_is_0_and_of_a_mask_with_itself_1() -> None:
    empty = masks.encode(np.zeros((3, 4), dtype=bool))
    assert masks.mask_iou(empty, empty) == 0.0
    one = np.zeros((3, 4), dtype=bool)
    one[1, 2] = True
    assert masks.mask_iou(masks.encode(one), masks.encode(one)) == 1.0
    assert masks.mask_iou(masks.encode(one), empty) == 0.0


def test_iou_refuses_masks_of_different_sizes() -> None:
    with pytest.raises(ValueError, match="cannot be compared"):
        masks.mask_iou(
            masks.encode(np.ones((3, 4), dtype=bool)), masks.encode(np.ones((4, 3), dtype=bool))
        )


def test_long_runs_and_large_images() -> None:
    mask = np.zeros((2160, 3840), dtype=bool)
    mask[1000:1001, :] = True  # a one-pixel line across: 3840 runs
    mask[:, 5:3000] = True  # a run of millions of pixels
    rle = masks.encode(mask)
    assert rle.counts == reference(mask)["counts"].decode()  # type: ignore[attr-defined]
    assert masks.area(rle) == int(mask.sum())
    assert (masks.decode(rle) == mask).all()


# ----- refusing what is not a mask -------------------------------------------------------------


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        (Rle(size=(2, 3), counts=(1, 2)), "cover 3 pixels, not 2 x 3"),
        (Rle(size=(2, 3), counts=(4, 2, 1)), "cover 7 pixels"),
        (Rle(size=(2, 3), counts=(7, -1)), "negative run"),
        (Rle(size=(2, 3), counts="6 "), "characters outside"),
        (Rle(size=(2, 3), counts="6é"), "characters outside"),
        (Rle(size=(2, 3), counts="6p"), "characters outside"),
        (Rle(size=(2, 3), counts="6P"), "ends in the middle of a number"),
        (Rle(size=(2, 3), counts="P" * 13 + "0"), "too long"),
        (Rle(size=(0, 3), counts=()), "is empty"),
        (Rle(size=(2, 3), counts="0O"), "negative run"),  # 0, then -1
    ],
)
def test_malformed_counts_are_refused(rle: Rle, message: str) -> None:
    with pytest.raises(masks.RleError, match=message):
        masks.decode(rle)
    with pytest.raises(masks.RleError):
        masks.area(rle)


def test_the_string_of_no_runs_covers_no_pixels() -> None:
    assert masks.string_to_counts("").size == 0
    with pytest.raises(masks.RleError, match="cover 0 pixels"):
        masks.area(Rle(size=(1, 1), counts=""))


# ----- outlines --------------------------------------------------------------------------------


def shapes() -> list[np.ndarray]:
    disc = np.zeros((60, 80), dtype=np.uint8)
    cv2.circle(disc, (40, 30), 20, 1, -1)
    ellipse = np.zeros((60, 80), dtype=np.uint8)
    cv2.ellipse(ellipse, (40, 30), (30, 12), 30, 0, 360, 1, -1)
    ell = np.zeros((60, 80), dtype=np.uint8)
    ell[10:50, 10:25] = 1
    ell[35:50, 10:60] = 1  # not convex
    square = np.zeros((60, 80), dtype=np.uint8)
    square[5:15, 60:70] = 1
    return [m.astype(bool) for m in (disc, ellipse, ell, square)]


@pytest.mark.parametrize("mask", shapes())
def test_outline_fills_back_the_same_pixels(mask: np.ndarray) -> None:
    points = masks.mask_to_polygon(mask, tolerance=0)
    assert points is not None and LinearRing(points).is_simple
    assert (masks.polygon_to_mask(points, *mask.shape) == mask).all()


@pytest.mark.parametrize("mask", shapes())
def test_simplified_outline_has_fewer_points_and_stays_close(mask: np.ndarray) -> None:
    exact = masks.mask_to_polygon(mask, tolerance=0)
    rough = masks.mask_to_polygon(mask, tolerance=1.5)
    assert exact is not None and rough is not None
    assert len(rough) <= len(exact)
    filled = masks.encode(masks.polygon_to_mask(rough, *mask.shape))
    assert masks.mask_iou(filled, masks.encode(mask)) > 0.9


def test_outline_of_the_largest_part_without_holes() -> None:
    mask = np.zeros((40, 40), dtype=bool)
    mask[2:30, 2:30] = True
    mask[10:20, 10:20] = False  # a hole
    mask[33:37, 33:37] = True  # a smaller part
    points = masks.mask_to_polygon(mask, tolerance=0)
    assert points is not None
    assert sorted(points) == [(2.5, 2.5), (2.5, 29.5), (29.5, 2.5), (29.5, 29.5)]


def test_outline_of_a_thin_mask_is_a_box_around_its_pixels() -> None:
    mask = np.zeros((10, 10), dtype=bool)
    mask[3, 4] = True
    points = masks.mask_to_polygon(mask)
    assert points == ((4.25, 3.25), (4.75, 3.25), (4.75, 3.75), (4.25, 3.75))
    assert (masks.polygon_to_mask(points, 10, 10) == mask).all()
    line = np.zeros((10, 10), dtype=bool)
    line[3, 2:8] = True
    points = masks.mask_to_polygon(line)
    assert points is not None and (masks.polygon_to_mask(points, 10, 10) == line).all()


def test_outline_cuts_off_one_pixel_spikes() -> None:
    mask = np.zeros((30, 30), dtype=bool)
    mask[2:12, 2:12] = True
    mask[12:25, 6] = True  # a spike the outline would go down and back up
    points = masks.mask_to_polygon(mask, tolerance=0)
    assert points is not None and LinearRing(points).is_simple
    assert max(y for _, y in points) == 12.5  # the spike down to row 24 is gone


def test_no_outline_of_an_empty_mask() -> None:
    assert masks.mask_to_polygon(np.zeros((5, 5), dtype=bool)) is None
    assert masks.mask_to_polygon(np.ones((5, 5), dtype=bool)) == (
        (0.5, 0.5),
        (0.5, 4.5),
        (4.5, 4.5),
        (4.5, 0.5),
    )


def test_polygon_along_pixel_edges_fills_by_opencv_rule() -> None:
    filled = masks.polygon_to_mask([(10, 10), (30, 10), (30, 30), (10, 30)], 40, 40)
    rows, cols = np.nonzero(filled)
    assert (cols.min(), cols.max(), rows.min(), rows.max()) == (10, 30, 10, 30)
    rle = masks.rle_of_polygon([(10, 10), (30, 10), (30, 30), (10, 30)], 40, 40)
    assert masks.area(rle) == 21 * 21 and masks.bbox(rle) == (10, 10, 21, 21)


@pytest.mark.parametrize("mask", shapes())
def test_outline_of_an_rle_is_traced_on_its_crop_in_image_coordinates(mask: np.ndarray) -> None:
    for tolerance in (0, 1.0):
        assert masks.rle_to_polygon(masks.encode(mask), tolerance) == masks.mask_to_polygon(
            mask, tolerance
        )
    assert masks.rle_to_polygon(masks.encode(np.zeros((4, 4), dtype=bool))) is None


def test_a_narrow_part_that_simplifies_to_a_line_keeps_its_exact_outline() -> None:
    mask = np.zeros((10, 40), dtype=bool)
    mask[4:6, 2:38] = True  # two pixels high: its centres' outline is one pixel high
    points = masks.mask_to_polygon(mask, tolerance=1.5)
    assert points is not None and LinearRing(points).is_simple
    assert (masks.polygon_to_mask(points, 10, 40) == mask).all()
