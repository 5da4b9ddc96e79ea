"""Redaction (shared/vision/redaction.py): the blur leaves nothing of what was under it and
nothing else changes, regions are clipped, merged and read from shapes, and OpenCV's own
cascades really find a face and a plate (drawn here: no pictures downloaded, no OpenCV
mocked)."""

from __future__ import annotations

import io
import threading

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from aviary_devkit.sim.scenes import generate_scene
from shared.vision.redaction import (
    CELLS,
    SCALE,
    Detector,
    Region,
    blur_regions,
    merge_regions,
    redact_jpeg,
    redact_rgb,
    regions_from_shapes,
)

Picture = npt.NDArray[np.uint8]
JPEG_TOLERANCE = 6  # grey levels a pixel moves through one JPEG round trip at quality 90


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector()


def checkerboard(height: int, width: int, square: int = 2) -> Picture:
    rows, cols = np.indices((height, width))
    board = (((rows // square) + (cols // square)) % 2 * 255).astype(np.uint8)
    return np.repeat(board[:, :, None], 3, axis=2)


def smooth_background(height: int, width: int) -> Picture:
    """A gentle gradient: JPEG keeps it almost exactly."""
    rows, cols = np.indices((height, width))
    grey = (60 + 100 * cols / width + 40 * rows / height).astype(np.uint8)
    return np.stack([grey, grey, grey], axis=2)


def jpeg(picture: Picture, quality: int = 95) -> bytes:
    ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def decode(data: bytes) -> Picture:
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    return picture.astype(np.uint8)


def street(seed: int) -> Picture:
    rgb = np.asarray(generate_scene(seed, 1280, 720).render(), dtype=np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint8)


def face(size: int) -> Picture:
    """A drawn face, front on, `size` pixels square: skin oval, hair, brows, eyes, the nose's
    ridge and shade, mouth. Drawn at 400 px, softened, then shrunk (so that small faces are as
    a camera would see them, not aliased). The Haar cascade's box around it is about 0.9 of
    `size`."""
    big = 400
    g = np.full((big, big), 70, np.uint8)
    cx, cy = big // 2, big // 2
    cv2.ellipse(g, (cx, cy + 10), (130, 170), 0, 0, 360, 200, -1)  # skin
    cv2.ellipse(g, (cx, cy - 90), (135, 95), 0, 180, 360, 40, -1)  # hair
    for side in (-1, 1):
        ex = cx + side * 62
        cv2.ellipse(g, (ex, cy - 35), (38, 9), 0, 0, 360, 60, -1)  # brow
        cv2.ellipse(g, (ex, cy - 5), (30, 14), 0, 0, 360, 245, -1)  # white of the eye
        cv2.circle(g, (ex, cy - 5), 12, 30, -1)  # iris
        cv2.ellipse(g, (ex, cy + 20), (34, 12), 0, 0, 180, 170, -1)  # shade under the eye
        cv2.circle(g, (cx + side * 12, cy + 82), 6, 80, -1)  # nostril
    cv2.ellipse(g, (cx, cy + 45), (20, 40), 0, 0, 360, 215, -1)  # ridge of the nose
    cv2.ellipse(g, (cx, cy + 80), (30, 12), 0, 0, 360, 150, -1)  # shade under the nose
    cv2.ellipse(g, (cx, cy + 125), (48, 14), 0, 0, 360, 90, -1)  # mouth
    soft = cv2.GaussianBlur(g, (0, 0), 6)
    small = np.asarray(cv2.resize(soft, (size, size), interpolation=cv2.INTER_AREA), np.float64)
    skin_tint = np.array([0.80, 0.90, 1.05])  # B, G, R: a warm skin rather than grey
    tinted: Picture = np.clip(small[:, :, None] * skin_tint, 0, 255).astype(np.uint8)
    return tinted


def plate(width: int) -> Picture:
    """A Russian number plate (what the plate cascade was trained on), `width` pixels wide:
    white, black border, six characters and the region's number."""
    w, h = 520, 112
    g = np.full((h, w), 235, np.uint8)
    cv2.rectangle(g, (3, 3), (w - 4, h - 4), 20, 5)
    cv2.line(g, (410, 3), (410, h - 4), 20, 4)
    cv2.putText(g, "A123BC", (22, 92), cv2.FONT_HERSHEY_SIMPLEX, 3.0, 15, 9)
    cv2.putText(g, "77", (425, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.7, 15, 5)
    small = cv2.resize(g, (width, round(width * h / w)), interpolation=cv2.INTER_AREA)
    return np.repeat(small[:, :, None], 3, axis=2)


def covers(region: Region, x: int, y: int, w: int, h: int) -> bool:
    """Whether the region covers the middle of the box (its central 60%)."""
    return (
        region.x <= x + 0.2 * w
        and x + 0.8 * w <= region.right
        and region.y <= y + 0.2 * h
        and y + 0.8 * h <= region.bottom
    )


# ----------------------------------------------------------------------------- the blur


def test_blur_leaves_nothing_of_a_fine_pattern_and_nothing_else_changes() -> None:
    picture = smooth_background(240, 320)
    picture[60:140, 100:220] = checkerboard(80, 120)
    region = Region(100, 60, 120, 80, "manual")

    blurred = blur_regions(picture, [region])

    inside = blurred[60:140, 100:220].astype(np.float64)
    assert picture[60:140, 100:220].std() > 120  # the checkerboard: black and white
    assert inside.std() < 3  # the blur: one even grey
    assert abs(inside.mean() - 127.5) < 3
    outside = np.ones(picture.shape[:2], bool)
    outside[60:140, 100:220] = False
    assert np.array_equal(blurred[outside], picture[outside])


def test_blur_is_a_function_of_a_few_means_only() -> None:
    """Two different patterns with the same mean in every cell blur to the same pixels: the
    blur keeps CELLS x CELLS numbers of a square region and nothing more."""
    one = checkerboard(64, 64)
    other = 255 - one  # every pixel different, every 16x16 cell's mean the same
    region = Region(0, 0, 64, 64, "face")
    assert 64 // CELLS == 16
    assert np.array_equal(blur_regions(one, [region]), blur_regions(other, [region]))


def test_blur_is_pure() -> None:
    picture = checkerboard(50, 50)
    before = picture.copy()
    blurred = blur_regions(picture, [Region(10, 10, 20, 20, "manual")])
    assert np.array_equal(picture, before)
    assert blurred is not picture
    assert not np.array_equal(blurred, picture)
    assert np.array_equal(blur_regions(picture, []), picture)


def test_blur_clips_regions_at_the_edges() -> None:
    picture = checkerboard(100, 150)
    blurred = blur_regions(
        picture,
        [
            Region(-30, -20, 70, 60, "face"),  # over the top-left corner
            Region(120, 70, 100, 100, "plate"),  # over the bottom-right corner
            Region(400, 400, 10, 10, "manual"),  # wholly outside: nothing to do
            Region(-50, 10, 20, 20, "manual"),
        ],
    )
    assert blurred.shape == picture.shape
    assert blurred[0:40, 0:40].std() < 10
    assert blurred[70:100, 120:150].std() < 10
    assert np.array_equal(blurred[45:65, 45:115], picture[45:65, 45:115])


def test_region_clipped() -> None:
    assert Region(-5, -5, 10, 10, "face").clipped(100, 100) == Region(0, 0, 5, 5, "face")
    assert Region(95, 90, 10, 20, "plate").clipped(100, 100) == Region(95, 90, 5, 10, "plate")
    assert Region(100, 0, 10, 10, "manual").clipped(100, 100) is None
    assert Region(-10, 0, 10, 10, "manual").clipped(100, 100) is None


# ----------------------------------------------------------------------------- merging


def test_merge_joins_overlapping_regions_of_a_kind() -> None:
    merged = merge_regions(
        [
            Region(0, 0, 10, 10, "face"),
            Region(5, 5, 10, 10, "face"),  # overlaps the first
            Region(100, 100, 10, 10, "face"),  # alone
        ]
    )
    assert merged == [Region(0, 0, 15, 15, "face"), Region(100, 100, 10, 10, "face")]


def test_merge_follows_chains_and_keeps_kinds_and_neighbours_apart() -> None:
    chain = [
        Region(0, 0, 10, 10, "face"),
        Region(40, 0, 10, 10, "face"),
        Region(8, 0, 35, 5, "face"),  # joins the first two, which do not overlap each other
    ]
    assert merge_regions(chain) == [Region(0, 0, 50, 10, "face")]
    touching = [Region(0, 0, 10, 10, "plate"), Region(10, 0, 10, 10, "plate")]
    assert merge_regions(touching) == touching  # sharing an edge is not overlapping
    kinds = [Region(0, 0, 10, 10, "face"), Region(5, 5, 10, 10, "plate")]
    assert merge_regions(kinds) == kinds
    assert merge_regions([]) == []


# ----------------------------------------------------------------------------- shapes


def test_regions_from_shapes() -> None:
    regions = regions_from_shapes(
        [
            {"bbox": [10.2, 20.7, 30.5, 40.1], "class_id": 3},  # widened to whole pixels
            {"kind": "bbox", "bbox": [-5.0, -8.0, 20.0, 18.0]},  # off the top-left: cut
            {"bbox": [50, 60, 0.0, 10]},  # empty
            {"bbox": [-30.0, 5.0, 20.0, 10.0]},  # wholly left of the picture
            {"bbox": [100, 100, 20, 10], "rotation": 90.0},  # turned: its outer box
        ]
    )
    assert regions == [
        Region(10, 20, 31, 41, "manual"),
        Region(0, 0, 15, 10, "manual"),
        Region(105, 95, 10, 20, "manual"),
    ]


@pytest.mark.parametrize(
    "shape",
    [
        {"kind": "polygon", "points": [[0, 0], [5, 0], [5, 5]]},
        {"bbox": [1, 2, 3]},
        {"bbox": "10 10 5 5"},
        {"bbox": [0, 0, float("nan"), 5]},
        {"bbox": [0, 0, True, 5]},
        {"class_id": 1},
    ],
)
def test_shapes_that_are_not_boxes_are_refused(shape: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        regions_from_shapes([shape])


# ----------------------------------------------------------------------------- JPEG in, JPEG out


@pytest.mark.parametrize(
    "data", [b"", b"not a picture at all", jpeg(checkerboard(16, 16))[:40], b"\xff\xd8\xff"]
)
def test_undecodable_bytes_raise_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a picture"):
        redact_jpeg(data, detect=False)


def test_quality_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="quality"):
        redact_jpeg(jpeg(checkerboard(16, 16)), detect=False, quality=0)


def test_nothing_to_blur_gives_the_picture_back_at_full_size() -> None:
    picture = smooth_background(300, 500)
    result = redact_jpeg(jpeg(picture), detect=False)
    assert (result.width, result.height) == (500, 300)
    assert result.regions == ()
    back = decode(result.jpeg)
    assert back.shape == picture.shape
    assert np.abs(back.astype(int) - picture.astype(int)).max() <= JPEG_TOLERANCE


def test_extra_regions_are_blurred_in_the_jpeg_and_the_rest_kept() -> None:
    picture = smooth_background(360, 480)
    picture[100:200, 150:300] = checkerboard(100, 150, square=3)
    original = decode(jpeg(picture))
    regions = regions_from_shapes([{"bbox": [150.0, 100.0, 150.0, 100.0]}])

    result = redact_jpeg(jpeg(picture), detect=False, extra=[*regions])

    assert result.regions == (Region(150, 100, 150, 100, "manual"),)
    back = decode(result.jpeg)
    assert original[100:200, 150:300].std() > 100
    assert back[100:200, 150:300].std() < 5
    # Away from the region (JPEG's 8x8 blocks along its border mix both sides) nothing moved.
    away = np.ones(picture.shape[:2], bool)
    away[92:208, 142:308] = False
    assert np.abs(back[away].astype(int) - original[away].astype(int)).max() <= JPEG_TOLERANCE


def test_extra_regions_are_clipped_to_the_picture() -> None:
    result = redact_jpeg(
        jpeg(smooth_background(100, 100)),
        detect=False,
        extra=[Region(80, -10, 50, 30, "manual"), Region(200, 200, 5, 5, "manual")],
    )
    assert result.regions == (Region(80, 0, 20, 20, "manual"),)


def test_regions_are_in_the_displayed_orientation() -> None:
    """A JPEG whose EXIF says "turn 90 degrees clockwise" is redacted as displayed (as shapes'
    coordinates are): the result is upright, its size swapped."""
    stored = smooth_background(200, 300)  # 300 wide, 200 tall as stored
    stored[0:50, 0:50] = checkerboard(50, 50)  # stored top-left: displayed top-right
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to display
    buffer = io.BytesIO()
    Image.fromarray(stored[:, :, ::-1]).save(buffer, format="JPEG", quality=95, exif=exif)

    result = redact_jpeg(buffer.getvalue(), detect=False, extra=[Region(150, 0, 50, 50, "manual")])

    assert (result.width, result.height) == (200, 300)
    back = decode(result.jpeg)
    assert back.shape[:2] == (300, 200)
    assert back[4:46, 154:196].std() < 5  # the checkerboard, displayed top-right: blurred


# ----------------------------------------------------------------------------- detection


@pytest.mark.parametrize(("size", "x", "y"), [(100, 900, 150), (120, 200, 420), (220, 560, 260)])
def test_the_face_cascade_finds_a_drawn_face_and_the_blur_hides_it(
    detector: Detector, size: int, x: int, y: int
) -> None:
    scene = street(11)
    assert not any(r.kind == "face" for r in detector.detect(scene))  # no face of its own
    scene[y : y + size, x : x + size] = face(size)

    result = redact_jpeg(jpeg(scene, quality=90), detector=detector)

    faces = [r for r in result.regions if r.kind == "face"]
    assert any(covers(r, x, y, size, size) for r in faces), faces
    assert all(r.w < 2 * size for r in faces)  # about the face, not half the street
    # What is left where the face was is no face to the same cascade, nor to a search of
    # the full-size picture.
    redacted = decode(result.jpeg)
    assert not any(r.kind == "face" for r in Detector(scale=1.0).detect(redacted))


def test_faces_under_the_scaled_search_need_a_full_size_one(detector: Detector) -> None:
    """The trade-off SCALE makes: a face whose box is under 24 / SCALE pixels is not found at
    the default scale, and is at full size."""
    size = 44
    assert size * 0.9 < 24 / SCALE
    scene = street(12)
    scene[300 : 300 + size, 640 : 640 + size] = face(size)
    assert not any(covers(r, 640, 300, size, size) for r in detector.detect(scene))
    full = Detector(scale=1.0).detect(scene)
    assert any(r.kind == "face" and covers(r, 640, 300, size, size) for r in full)


def test_the_plate_cascade_finds_a_drawn_plate(detector: Detector) -> None:
    scene = street(13)
    width = 260  # over 60 / SCALE: the plate cascade's 60-pixel window in the scaled copy
    drawn = plate(width)
    height = drawn.shape[0]
    x, y = 500, 450
    scene[y - 60 : y + height + 60, x - 80 : x + width + 80] = (150, 40, 40)  # a car's back
    scene[y : y + height, x : x + width] = drawn

    regions = detector.detect(scene)

    assert any(r.kind == "plate" and covers(r, x, y, width, height) for r in regions), regions


def test_pictures_smaller_than_a_cascade_window_are_searched_too(detector: Detector) -> None:
    for height, width in ((1, 1), (10, 30), (40, 200)):
        assert detector.detect(smooth_background(height, width)) == []
        result = redact_jpeg(jpeg(smooth_background(height, width)), detector=detector)
        assert (result.width, result.height) == (width, height)


def test_detect_refuses_what_is_not_a_bgr_picture(detector: Detector) -> None:
    with pytest.raises(ValueError):
        detector.detect(np.zeros((10, 10), np.uint8))


def test_one_detector_serves_several_threads(detector: Detector) -> None:
    scene = street(14)
    scene[200:320, 300:420] = face(120)
    alone = detector.detect(scene)
    results: list[list[Region]] = []

    def search() -> None:
        results.append(detector.detect(scene))

    threads = [threading.Thread(target=search) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [alone] * 4
    assert any(r.kind == "face" for r in alone)


def test_an_rgb_frame_is_searched_as_its_bgr_twin_and_blurred(detector: Detector) -> None:
    scene = street(15)
    scene[200:320, 300:420] = face(120)
    frame = cv2.cvtColor(scene, cv2.COLOR_BGR2RGB).astype(np.uint8)
    blurred, regions = redact_rgb(frame, detector=detector)
    assert list(regions) == detector.detect(scene)
    assert any(r.kind == "face" and covers(r, 300, 200, 120, 120) for r in regions)
    assert not any(r.kind == "face" for r in Detector(scale=1.0).detect(blurred, rgb=True))
    assert np.array_equal(frame, cv2.cvtColor(scene, cv2.COLOR_BGR2RGB))  # given, unchanged


def test_an_rgb_frame_without_faces_comes_back_as_it_was(detector: Detector) -> None:
    frame = smooth_background(240, 320)
    blurred, regions = redact_rgb(frame, detector=detector)
    assert regions == () and blurred is frame
