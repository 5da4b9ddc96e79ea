"""Unit tests for the Label Studio JSON reader (client/aviary/interop/labelstudio.py): every result
type it reads, which annotation it takes, brush masks pixel for pixel (encoded with a port of
label-studio-converter's `brush.encode_rle`), and every refusal with its message.

Coordinates in the files are percentages of original_width x original_height (200 x 100 here):
x% of 200 is 2x pixels, y% of 100 is y pixels.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aviary.contracts.shapes import (
    BoxShape,
    KeypointsShape,
    MaskShape,
    Ontology,
    OntologyClass,
    PolygonShape,
    PolylineShape,
    Skeleton,
)
from aviary.interop.brush import decode_brush
from aviary.interop.foreign import ForeignFormatError, ForeignSet, ForeignShape, coco_counts
from aviary.interop.labelstudio import read
from aviary.interop.labelstudio_config import Control, read_config
from aviary.interop.labelstudio_values import image_name
from aviary.interop.mapping import map_onto
from services.export.formats import PackageItem
from shared.domain import masks
from tests.unit.test_export_formats import (
    EVERY_KEYPOINT_PLACED,
    ITEMS,
    ONTOLOGY,
    WEIRD,
    build,
    make_item,
)

W, H = 200, 100


# ----- a port of label-studio-converter's brush.encode_rle (the test's own encoder) -------------


def ls_encode(values: list[int], literals: bool = False) -> list[int]:
    """Label Studio's brush RLE of `values` (word size 8, run-length sizes 3, 4, 8, 16), as
    label-studio-converter's `encode_rle` writes it. With `literals`, runs of one value are
    packed into literal blocks of up to 8 (flag bit 0), as Label Studio's own front end (the
    thi.ng rle-pack encoder) writes them; the converter writes each alone."""
    sizes = (3, 4, 8, 16)
    bits = [f"{len(values):032b}", f"{8 - 1:05b}", *(f"{s - 1:04b}" for s in sizes)]
    runs = [(v, len(list(g))) for v, g in itertools.groupby(values)]
    pending: list[int] = []

    def flush() -> None:
        if pending:
            bits.append(
                "0" + "00" + f"{len(pending) - 1:03b}" + "".join(f"{v:08b}" for v in pending)
            )
            pending.clear()

    for value, length in runs:
        if length == 1:
            if literals:
                pending.append(value)
                if len(pending) == 8:
                    flush()
                continue
            bits.append("0" + "00" + "000" + f"{value:08b}")
            continue
        flush()
        if length <= 8:
            bits.append("1" + "00" + f"{length - 1:03b}" + f"{value:08b}")
        elif length <= 16:
            bits.append("1" + "01" + f"{length - 1:04b}" + f"{value:08b}")
        elif length <= 256:
            bits.append("1" + "10" + f"{length - 1:08b}" + f"{value:08b}")
        else:
            while length > 2**16:
                bits.append("1" + "11" + f"{2**16 - 1:016b}" + f"{value:08b}")
                length -= 2**16
            bits.append("1" + "11" + f"{length - 1:016b}" + f"{value:08b}")
    flush()
    total = "".join(bits)
    total += "0" * (8 - len(total) % 8)  # the converter pads to whole bytes (8 when aligned)
    return [int(total[i : i + 8], 2) for i in range(0, len(total), 8)]


def gray_rgba(mask: np.ndarray) -> list[int]:
    """What label-studio-converter's `mask2rle` encodes: each pixel's 0/255 four times."""
    return [int(v) for v in np.repeat(mask.astype(np.uint8).ravel() * 255, 4)]


def painted_rgba(mask: np.ndarray) -> list[int]:
    """What Label Studio's canvas gives: painted pixels red, opaque; the others all zero."""
    pixels = np.zeros((*mask.shape, 4), dtype=np.uint8)
    pixels[mask] = (230, 20, 20, 255)
    return [int(v) for v in pixels.ravel()]


def blob(width: int = W, height: int = H) -> np.ndarray:
    """An ellipse with a hole, cut by the right edge, and a lone pixel: not a box."""
    yy, xx = np.mgrid[0:height, 0:width]
    inside = ((xx - width * 0.8) / (width * 0.3)) ** 2 + ((yy - height / 2) / (height * 0.4)) ** 2
    mask: np.ndarray = inside <= 1
    mask[height // 2 - 3 : height // 2 + 3, int(width * 0.75) : int(width * 0.8)] = False
    mask[0, 0] = True
    return mask


# ----- files made in the test ------------------------------------------------------------------


def result(
    kind: str,
    value: dict[str, Any],
    rid: str,
    from_name: str = "label",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": rid,
        "type": kind,
        "from_name": from_name,
        "to_name": "image",
        "original_width": W,
        "original_height": H,
        "image_rotation": 0,
        "value": value,
        **extra,
    }


def rect(
    rid: str, label: str, x: float, y: float, w: float, h: float, **extra: Any
) -> dict[str, Any]:
    value = {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]}
    return result("rectanglelabels", value, rid, **extra)


def point(rid: str, label: str, x: float, y: float, **extra: Any) -> dict[str, Any]:
    value = {"x": x, "y": y, "width": 0.5, "keypointlabels": [label]}
    return result("keypointlabels", value, rid, from_name="kp", **extra)


def choices(rid: str, chosen: list[str], from_name: str = "weather") -> dict[str, Any]:
    return {
        "id": rid,
        "type": "choices",
        "from_name": from_name,
        "to_name": "image",
        "origin": "manual",
        "value": {"choices": chosen},
    }


def annotation(results: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": 1,
        "completed_by": 1,
        "result": results,
        "was_cancelled": False,
        "ground_truth": False,
        "created_at": "2024-05-01T12:00:00.000000Z",
        "updated_at": "2024-05-01T12:00:00.000000Z",
        **extra,
    }


def task(
    image: str = "/data/upload/3/1a2b3c4d-street.jpg",
    annotations: Any = None,
    predictions: list[dict[str, Any]] | None = None,
    **data: Any,
) -> dict[str, Any]:
    return {
        "id": 7,
        "data": {"image": image, **data},
        "annotations": annotations or [],
        "predictions": predictions or [],
        "file_upload": "1a2b3c4d-street.jpg",
        "drafts": [],
        "meta": {},
        "project": 3,
    }


def write(tmp_path: Path, tasks: Any, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(tasks))
    return path


def one(tmp_path: Path, *results: dict[str, Any], **kwargs: Any) -> ForeignSet:
    return read(write(tmp_path, [task(annotations=[annotation(list(results))], **kwargs)]))


def refusal(tmp_path: Path, tasks: Any, **kwargs: Any) -> str:
    with pytest.raises(ForeignFormatError) as caught:
        read(write(tmp_path, tasks), **kwargs)
    return str(caught.value)


# ----- images ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/data/upload/3/1a2b3c4d-street.jpg", "street.jpg"),  # the upload's prefix stripped
        ("/data/upload/3/1a2b3c4d-a-b.png", "a-b.png"),
        ("/data/local-files/?d=shots/day%201/cam.png", "cam.png"),
        ("s3://bucket/raw/deadbeef-cam.jpg", "deadbeef-cam.jpg"),  # not an upload: as it is
        ("https://cdn.example.com/x/my%20photo.jpeg?sig=abc", "my photo.jpeg"),
        ("gs://b/p/q.webp", "q.webp"),
    ],
)
def test_image_names(url: str, name: str) -> None:
    assert image_name(url) == name


def test_a_rectangle_in_pixels_with_the_image_and_its_size(tmp_path: Path) -> None:
    found = one(tmp_path, rect("r1", "car", 10, 20, 25, 50))
    [image] = found.images
    assert (image.name, image.width, image.height) == ("street.jpg", W, H)
    # x 10% of 200, y 20% of 100, w 25% of 200, h 50% of 100
    assert image.shapes == (ForeignShape("car", "bbox", bbox=(20.0, 20.0, 50.0, 50.0)),)
    assert found.format == "labelstudio"
    assert any("'label' (rectanglelabels: 1)" in n for n in found.notes)


def test_the_image_is_the_first_image_value_or_the_key_named(tmp_path: Path) -> None:
    tasks = [
        {
            "data": {"caption": "a street", "ref": "s3://b/a.png", "image": "/x/b.jpg"},
            "annotations": [annotation([rect("r", "car", 0, 0, 10, 10)])],
        }
    ]
    path = write(tmp_path, tasks)
    assert read(path).images[0].name == "a.png"
    assert read(path, image_key="image").images[0].name == "b.jpg"


def test_a_folder_holding_one_export(tmp_path: Path) -> None:
    write(tmp_path, [task(annotations=[annotation([rect("r", "car", 0, 0, 10, 10)])])])
    assert read(tmp_path).images[0].name == "street.jpg"
    write(tmp_path, [], name="other.json")
    with pytest.raises(ForeignFormatError, match=r"expected one \.json export in the folder"):
        read(tmp_path)


# ----- shapes ----------------------------------------------------------------------------------


def test_a_polygon(tmp_path: Path) -> None:
    value = {"points": [[10, 10], [50, 10], [50, 80]], "closed": True, "polygonlabels": ["road"]}
    [shape] = one(tmp_path, result("polygonlabels", value, "p")).images[0].shapes
    assert shape == ForeignShape("road", "polygon", points=((20, 10), (100, 10), (100, 80)))


def vector(rid: str, label: str, closed: bool, **vertex_extra: Any) -> dict[str, Any]:
    vertices = [
        {"id": "a", "x": 0, "y": 50, "prevPointId": None, "isBezier": False},
        {"id": "b", "x": 50, "y": 50, "prevPointId": "a", "isBezier": False, **vertex_extra},
        {"id": "c", "x": 50, "y": 0, "prevPointId": "b", "isBezier": False},
    ]
    value = {"vertices": vertices, "closed": closed, "vectorlabels": [label]}
    return result("vectorlabels", value, rid, from_name="paths")


def test_vector_paths_are_polylines_or_closed_polygons(tmp_path: Path) -> None:
    curve = {
        "isBezier": True,
        "controlPoint1": {"x": 40, "y": 40},
        "controlPoint2": {"x": 45, "y": 45},
    }
    found = one(
        tmp_path,
        vector("v1", "lane", False),
        vector("v2", "road", True),
        vector("v3", "lane", False, **curve),
    )
    lane, road, curved = found.images[0].shapes
    assert lane == ForeignShape("lane", "polyline", points=((0, 50), (100, 50), (100, 0)))
    assert road.kind == "polygon" and road.points == lane.points
    assert curved.points == lane.points  # through its vertices, the curve's handles dropped
    assert "1 vector paths with Bézier curves, read through their vertices" in found.notes


def test_a_branching_vector_path_is_dropped_and_noted(tmp_path: Path) -> None:
    branching = vector("v", "lane", False)
    branching["value"]["vertices"][2]["prevPointId"] = "a"  # skeleton mode: c grows from a
    found = one(tmp_path, branching)
    assert found.images[0].shapes == ()
    assert "1 branching vector paths (skeleton mode), dropped" in found.notes


def test_keypoints_under_a_labelled_region_make_one_named_object(tmp_path: Path) -> None:
    person = rect("body", "pose", 10, 10, 50, 80)
    head = point("k1", "head", 25, 20, parentID="body")
    hip = point("k2", "hip", 30, 60, parentID="body")
    hand = point("k3", "hand", 40, 40, parentID="body")
    # a second task: the hand not placed, the points in another order
    other = [
        rect("body", "pose", 0, 0, 50, 50),
        point("k2", "hip", 10, 30, parentID="body"),
        point("k1", "head", 10, 10, parentID="body"),
    ]
    tasks = [
        task(annotations=[annotation([person, head, hip, hand])]),
        task(image="/data/upload/3/00000000-two.jpg", annotations=[annotation(other)]),
    ]
    found = read(write(tmp_path, tasks))
    assert found.skeletons == {"pose": ("head", "hip", "hand")}
    [first] = found.images[0].shapes  # the region names the object: not a box of its own
    assert first == ForeignShape(
        "pose", "keypoints", keypoints=((50, 20, 2), (60, 60, 2), (80, 40, 2))
    )
    [second] = found.images[1].shapes
    assert second.keypoints == ((20, 10, 2), (20, 30, 2), (0, 0, 0))
    assert (
        "2 regions naming the object of their keypoints (parentID), not imported as shapes"
        " themselves"
    ) in found.notes


def test_keypoints_linked_to_each_other_with_one_label_are_one_object(tmp_path: Path) -> None:
    found = one(
        tmp_path,
        point("a", "pose", 10, 10),
        point("b", "pose", 20, 20, parentID="a"),
        point("c", "pose", 30, 30, parentID="b"),
    )
    [shape] = found.images[0].shapes
    assert shape == ForeignShape(
        "pose", "keypoints", keypoints=((20, 10, 2), (40, 20, 2), (60, 30, 2))
    )
    assert found.skeletons == {}


def test_a_keypoint_without_a_parent_is_a_shape_of_its_own(tmp_path: Path) -> None:
    found = one(tmp_path, point("a", "nose", 10, 10), point("b", "nose", 20, 20))
    assert [s.keypoints for s in found.images[0].shapes] == [((20, 10, 2),), ((40, 20, 2),)]
    assert "2 keypoints linked to no other region, each read as a one-keypoint shape" in found.notes


def test_keypoints_linked_by_relations_or_ids_take_their_controls_name(tmp_path: Path) -> None:
    # no region names the object: the KeyPointLabels control's name does
    related = [point("a", "head", 10, 10), point("b", "hip", 10, 50)]
    relation = {"from_id": "a", "to_id": "b", "type": "relation", "direction": "right"}
    by_id = [point("s4k0", "head", 20, 10), point("s4k2", "hip", 20, 50)]  # as Aviary writes
    found = one(tmp_path, *related, relation, *by_id)
    assert found.images[0].shapes == (
        ForeignShape("kp", "keypoints", keypoints=((20, 10, 2), (20, 50, 2))),
        ForeignShape("kp", "keypoints", keypoints=((40, 10, 2), (40, 50, 2))),
    )
    assert found.skeletons == {"kp": ("head", "hip")}
    assert "1 relations between keypoints, read as links of one object" in found.notes
    assert (
        "2 keypoint objects named by their control's from_name (no region names them; their"
        " points' labels are the keypoint names)"
    ) in found.notes


def test_a_relation_not_between_keypoints_is_dropped(tmp_path: Path) -> None:
    relation = {"from_id": "a", "to_id": "b", "type": "relation", "from_name": "rel"}
    found = one(tmp_path, rect("a", "car", 0, 0, 1, 1), rect("b", "car", 0, 0, 1, 1), relation)
    assert len(found.images[0].shapes) == 2
    assert any("'rel' (relation: 1)" in n for n in found.notes)


def test_keypoints_of_different_controls_with_no_named_object_are_refused(
    tmp_path: Path,
) -> None:
    other = point("b", "hip", 2, 2, parentID="a")
    other["from_name"] = "legs"
    tasks = [task(annotations=[annotation([point("a", "head", 1, 1), other])])]
    message = refusal(tmp_path, tasks)
    assert message == (
        "export.json task 0 result 0: keypoints of one object carry different labels (head,"
        " hip) from different controls (kp, legs), and no labelled region names the object"
    )


def test_keypoints_of_one_object_under_two_regions_are_refused(tmp_path: Path) -> None:
    results = [
        rect("one", "pose", 0, 0, 50, 50),
        rect("two", "pose", 0, 0, 50, 50),
        point("s1k0", "head", 1, 1, parentID="one"),
        point("s1k1", "hip", 2, 2, parentID="two"),
    ]
    message = refusal(tmp_path, [task(annotations=[annotation(results)])])
    assert message == (
        "export.json task 0 result 2: keypoints of one object under different regions (one, two)"
    )


def test_an_object_with_two_keypoints_of_one_name_is_refused(tmp_path: Path) -> None:
    results = [
        rect("body", "pose", 0, 0, 50, 50),
        point("a", "hand", 1, 1, parentID="body"),
        point("b", "hand", 2, 2, parentID="body"),
        point("c", "head", 2, 2, parentID="body"),
    ]
    message = refusal(tmp_path, [task(annotations=[annotation(results)])])
    assert "two keypoints named 'hand' in one object of 'pose'" in message


def brush(rid: str, label: str, rle: list[int], **value: Any) -> dict[str, Any]:
    body = {"format": "rle", "rle": rle, "brushlabels": [label], **value}
    return result("brushlabels", body, rid, from_name="brush")


@pytest.mark.parametrize("pixels", [gray_rgba, painted_rgba], ids=["converter", "canvas"])
@pytest.mark.parametrize("literals", [False, True], ids=["runs", "literal-blocks"])
def test_a_brush_is_its_alpha_channel_pixel_for_pixel(
    tmp_path: Path, pixels: Any, literals: bool
) -> None:
    wanted = blob()
    found = one(tmp_path, brush("b", "puddle", ls_encode(pixels(wanted), literals)))
    [shape] = found.images[0].shapes
    assert shape.kind == "mask" and shape.label == "puddle" and shape.rle is not None
    assert shape.rle.size == (H, W)
    assert isinstance(shape.rle.counts, tuple)  # COCO's uncompressed counts
    assert np.array_equal(masks.decode(shape.rle), wanted)
    assert shape.rle.counts == tuple(int(n) for n in masks.runs_of(wanted))


def test_a_large_brush_with_runs_longer_than_16_bits(tmp_path: Path) -> None:
    width, height = 300, 400  # 480,000 values: runs of zeros beyond 65,536
    wanted = np.zeros((height, width), dtype=bool)
    wanted[350:360, 10:290] = True
    mask = decode_brush(ls_encode(gray_rgba(wanted)), width, height)
    counts = coco_counts(mask, width)
    assert counts == tuple(int(n) for n in masks.runs_of(wanted))


def test_coco_counts_start_with_zeros() -> None:
    # 2x2, row-major [1, 0, 1, 1]: column 0 is (1, 1), column 1 is (0, 1)
    assert coco_counts(bytearray([1, 0, 1, 1]), 2) == (0, 2, 1, 1)
    assert coco_counts(bytearray(4), 2) == (4,)


def test_an_empty_brush_and_other_brush_formats_are_dropped(tmp_path: Path) -> None:
    empty = brush("b1", "puddle", ls_encode([0] * (W * H * 4)))
    png = result("brushlabels", {"format": "png", "brushlabels": ["puddle"]}, "b2")
    found = one(tmp_path, empty, png)
    assert found.images[0].shapes == ()
    assert "1 empty brushes, dropped" in found.notes
    assert "1 brushes not in Label Studio's RLE format, dropped" in found.notes


def overlong() -> list[int]:
    """A brush whose header says the image's 80,000 values and whose run says 80,100."""
    rle = ls_encode([0] * (W * H * 4 + 100))
    return list((W * H * 4).to_bytes(4, "big")) + rle[4:]


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        (ls_encode([0] * 12), "a brush's `rle` holds 12 values; a 200x100 RGBA image has 80000"),
        (ls_encode([0] * (W * H * 4))[:-3], "a brush's `rle` ends in the middle of a run"),
        ([300, 1], "a brush's `rle` is not a list of bytes"),
        (overlong(), "a brush's `rle` runs past the image"),
    ],
)
def test_a_broken_brush_is_refused(tmp_path: Path, rle: list[int], message: str) -> None:
    text = refusal(tmp_path, [task(annotations=[annotation([brush("b", "puddle", rle)])])])
    assert message in text and "task 0 result 0" in text


def test_choices_are_classifications_one_per_chosen_value(tmp_path: Path) -> None:
    found = one(tmp_path, choices("c1", ["clear", "day"]), choices("c2", ["urban"], "scene"))
    assert found.images[0].shapes == (
        ForeignShape("clear", "classification"),
        ForeignShape("day", "classification"),
        ForeignShape("urban", "classification"),
    )


def test_a_choices_only_task_has_no_size(tmp_path: Path) -> None:
    # choices say nothing of the image's size, and a classification needs none
    [image] = one(tmp_path, choices("c1", ["clear"])).images
    assert (image.width, image.height) == (None, None)


def test_per_region_controls_are_attributes_named_by_from_name(tmp_path: Path) -> None:
    box = rect("r1", "person", 0, 0, 10, 10)
    occluded = {**choices("r1", ["yes"], "occluded")}
    note = {"id": "r1", "type": "textarea", "from_name": "note", "value": {"text": ["tall", "hat"]}}
    several = {**choices("r1", ["a", "b"], "tags")}
    found = one(tmp_path, box, occluded, note, several)
    [shape] = found.images[0].shapes
    assert shape.attributes == {"occluded": "yes", "note": "tall\nhat"}
    assert any("'tags' (choices: 1)" in n and "dropped" in n for n in found.notes)


def test_a_bare_tool_takes_its_label_from_a_labels_result(tmp_path: Path) -> None:
    tool = result(
        "rectangle", {"x": 0, "y": 0, "width": 10, "height": 10, "rotation": 0}, "r", "box"
    )
    labels = result("labels", {"x": 0, "y": 0, "width": 10, "height": 10, "labels": ["car"]}, "r")
    [shape] = one(tmp_path, tool, labels).images[0].shapes
    assert shape.label == "car" and shape.bbox == (0, 0, 20, 10)


def test_what_cannot_be_kept_is_dropped_and_noted(tmp_path: Path) -> None:
    caption = {"id": "t", "type": "textarea", "from_name": "caption", "value": {"text": ["x"]}}
    ellipse = result(
        "ellipselabels",
        {"x": 5, "y": 5, "radiusX": 1, "radiusY": 1, "ellipselabels": ["eye"]},
        "e",
        "eyes",
    )
    relation = {"from_id": "a", "to_id": "b", "type": "relation", "direction": "right"}
    unlabelled = rect("u", "car", 0, 0, 5, 5)
    unlabelled["value"]["rectanglelabels"] = []
    double = rect("d", "car", 0, 0, 5, 5)
    double["value"]["rectanglelabels"] = ["car", "red"]
    found = one(tmp_path, caption, ellipse, relation, unlabelled, double)
    assert found.images[0].shapes == (ForeignShape("car", "bbox", bbox=(0, 0, 10, 5)),)
    dropped = next(n for n in found.notes if n.startswith("results of these controls"))
    assert "'caption' (textarea: 1)" in dropped
    assert "'eyes' (ellipselabels: 1)" in dropped
    assert "'?' (relation: 1)" in dropped
    assert "1 regions without a label, dropped" in found.notes
    assert "1 regions with several labels: the first was kept" in found.notes


# ----- which annotation ------------------------------------------------------------------------


def test_the_latest_annotation_not_cancelled_is_read(tmp_path: Path) -> None:
    old = annotation([rect("a", "old", 0, 0, 1, 1)], updated_at="2024-01-01T00:00:00Z")
    new = annotation([rect("b", "new", 0, 0, 1, 1)], updated_at="2024-06-01T00:00:00+00:00")
    skipped = annotation(
        [rect("c", "skipped", 0, 0, 1, 1)], updated_at="2024-09-01T00:00:00Z", was_cancelled=True
    )
    found = read(write(tmp_path, [task(annotations=[old, new, skipped])]))
    assert [s.label for s in found.images[0].shapes] == ["new"]
    assert "1 cancelled (skipped) annotations, not read" in found.notes
    assert "1 tasks with several annotations: the latest was read" in found.notes


def test_predictions_when_there_is_no_annotation_with_their_scores(tmp_path: Path) -> None:
    earlier = {
        "model_version": "det@1",
        "score": 0.5,
        "created_at": "2024-01-01T00:00:00Z",
        "result": [rect("x", "old", 0, 0, 1, 1)],
    }
    latest = {
        "model_version": "det@2",
        "score": 0.8,
        "created_at": "2024-02-01T00:00:00Z",
        "result": [
            rect("a", "car", 0, 0, 10, 10, score=0.93),  # its own score
            rect("b", "car", 0, 0, 10, 10),  # the prediction's
            rect("c", "car", 0, 0, 10, 10, score=7),  # not a confidence: none
            choices("d", ["clear"]),
        ],
    }
    cancelled = annotation([rect("z", "skipped", 0, 0, 1, 1)], was_cancelled=True)
    found = read(write(tmp_path, [task(annotations=[cancelled], predictions=[latest, earlier])]))
    assert [(s.label, s.score) for s in found.images[0].shapes] == [
        ("car", 0.93),
        ("car", 0.8),
        ("car", 0.8),
        ("clear", 0.8),
    ]
    assert "1 tasks with no annotation: their latest prediction was read" in found.notes
    assert any(n.startswith("predictions of models: det@2 (1)") for n in found.notes)


def test_annotations_have_no_score(tmp_path: Path) -> None:
    [shape] = one(tmp_path, rect("a", "car", 0, 0, 10, 10, score=0.9)).images[0].shapes
    assert shape.score is None


def test_a_task_with_nothing_is_left_out_but_an_empty_annotation_is_an_empty_image(
    tmp_path: Path,
) -> None:
    tasks = [task(), task(image="/data/upload/1/abcdef01-empty.png", annotations=[annotation([])])]
    found = read(write(tmp_path, tasks))
    assert [(i.name, i.shapes) for i in found.images] == [("empty.png", ())]
    assert "1 tasks with no annotation and no prediction, left out" in found.notes


# ----- refusals --------------------------------------------------------------------------------


def test_a_turned_rectangle_turns_about_its_centre_once_read(tmp_path: Path) -> None:
    turned = rect("r", "car", 10, 10, 20, 20)
    turned["value"]["rotation"] = 30
    shape = one(tmp_path, turned).images[0].shapes[0]
    # Label Studio's top-left corner (20, 10) is the pivot; Aviary turns the box about its
    # centre, which is 20 px along and 10 px down the turned box from that corner.
    cx, cy = 20 + 20 * math.cos(math.pi / 6) - 10 * 0.5, 10 + 20 * 0.5 + 10 * math.cos(math.pi / 6)
    assert shape.bbox == pytest.approx((cx - 20, cy - 10, 40, 20))
    assert shape.rotation == 30
    turned["value"]["rotation"] = "30"
    assert "rotation '30' is a number" in refusal(
        tmp_path, [task(annotations=[annotation([turned])])]
    )


def test_a_full_turn_is_no_rotation(tmp_path: Path) -> None:
    turned = rect("r", "car", 10, 10, 20, 20)
    turned["value"]["rotation"] = 360
    assert one(tmp_path, turned).images[0].shapes[0].bbox == (20, 10, 40, 20)


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        (
            {"data": {}},
            "export.json: a Label Studio JSON export is a list of tasks (Export → JSON)",
        ),
        (
            [{"id": 1, "image": "/data/upload/1/abcdef01-a.jpg", "label": [{"x": 1}]}],
            "export.json task 0: this looks like Label Studio's JSON-MIN export (no `data`, no"
            " `annotations`); export as JSON instead",
        ),
        (["x"], "export.json task 0: a task is an object"),
        ([{"annotations": []}], "export.json task 0: a task has `data`"),
        (
            [{"data": {"text": "hello"}, "annotations": []}],
            "export.json task 0: no image URL or path in `data` (keys: text); name its key with"
            " image_key",
        ),
        (
            [task(annotations=[{"result": {"a": 1}}])],
            "export.json task 0: an annotation's `result` is a list",
        ),
        ([task(annotations="x")], "export.json task 0: `annotations` is a list of objects"),
        (
            [task(annotations=[annotation([{"id": "a", "value": {}}])])],
            "export.json task 0 result 0: a result is an object with a `type`",
        ),
    ],
)
def test_what_is_not_a_label_studio_export_is_refused(
    tmp_path: Path, tasks: Any, message: str
) -> None:
    assert refusal(tmp_path, tasks) == message


def test_a_key_named_without_an_image_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, [task()], image_key="photo")
    assert message == "export.json task 0: `data` has no image under 'photo'"


def test_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text("[{")
    with pytest.raises(ForeignFormatError, match=r"^export.json: not a JSON file \("):
        read(path)


def test_a_rotated_view_is_refused(tmp_path: Path) -> None:
    turned = rect("r", "car", 10, 10, 20, 20, image_rotation=90)
    message = refusal(tmp_path, [task(annotations=[annotation([turned])])])
    assert message == (
        "export.json task 0 result 0: the image was rotated by 90° in Label Studio: its"
        " coordinates are of the rotated view, which Aviary does not read"
    )


def test_results_disagreeing_on_the_size_are_refused(tmp_path: Path) -> None:
    other = rect("b", "car", 0, 0, 1, 1, original_width=100)
    message = refusal(
        tmp_path, [task(annotations=[annotation([rect("a", "car", 0, 0, 1, 1), other])])]
    )
    assert (
        message == "export.json task 0: the results disagree on the image size (100x100, 200x100)"
    )


def test_a_region_without_the_image_size_is_refused(tmp_path: Path) -> None:
    bare = rect("a", "car", 0, 0, 1, 1)
    del bare["original_width"], bare["original_height"]
    message = refusal(tmp_path, [task(annotations=[annotation([bare])])])
    assert message == (
        "export.json task 0 result 0: a region without original_width/original_height: its"
        " percentages cannot become pixels"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"x": "1", "y": 0, "width": 1, "height": 1}, "`x` is a number"),
        ({"x": 0, "y": 0, "width": -1, "height": 1}, "a rectangle with a negative width or height"),
    ],
)
def test_broken_geometry_is_refused(tmp_path: Path, value: dict[str, Any], message: str) -> None:
    box = result("rectanglelabels", {**value, "rectanglelabels": ["car"]}, "a")
    assert refusal(tmp_path, [task(annotations=[annotation([box])])]) == (
        f"export.json task 0 result 0: {message}"
    )


def test_a_polygon_point_that_is_not_a_pair_is_refused(tmp_path: Path) -> None:
    value = {"points": [[1, 2], [3]], "polygonlabels": ["road"]}
    message = refusal(
        tmp_path, [task(annotations=[annotation([result("polygonlabels", value, "p")])])]
    )
    assert message == "export.json task 0 result 0: a point is [x, y]"


# ----- onto an ontology ------------------------------------------------------------------------


def test_a_set_maps_onto_an_ontology(tmp_path: Path) -> None:
    ontology = Ontology(
        classes=(
            OntologyClass(id=1, name="car"),
            OntologyClass(id=2, name="road", kind="polygon"),
            OntologyClass(
                id=3, name="pose", kind="keypoints", skeleton=Skeleton(keypoints=("hip", "head"))
            ),
            OntologyClass(id=4, name="puddle", kind="mask"),
            OntologyClass(id=5, name="clear", kind="classification"),
        )
    )
    polygon = {"points": [[10, 10], [50, 10], [50, 80]], "polygonlabels": ["road"]}
    found = one(
        tmp_path,
        rect("a", "car", 10, 20, 25, 50),
        result("polygonlabels", polygon, "p"),
        rect("body", "pose", 0, 0, 50, 50),
        point("h", "head", 10, 10, parentID="body"),
        point("i", "hip", 10, 30, parentID="body"),
        brush("m", "puddle", ls_encode(gray_rgba(blob()))),
        choices("c", ["clear"]),
    )
    mapped = map_onto(found, ontology, source_model="det@2")
    assert mapped.report.ok, mapped.report.refused
    shapes = mapped.annotations["street.jpg"].shapes
    assert [s.kind for s in shapes] == ["bbox", "polygon", "keypoints", "mask", "classification"]
    assert shapes[2].keypoints == ((20, 30, 2), (20, 10, 2))  # type: ignore[union-attr]


# ----- Aviary's own Label Studio export, read back ---------------------------------------------


def exported(tmp_path: Path, items: tuple[PackageItem, ...], config: bool = False) -> Path:
    """Our export's tasks.json in tmp_path, with its config.xml beside it when `config`."""
    files, _ = build(tmp_path, items, formats=("labelstudio",))
    if config:
        (tmp_path / "config.xml").write_bytes(files["labelstudio/config.xml"])
    return write(tmp_path, json.loads(files["labelstudio/tasks.json"]), name="tasks.json")


# A control character XML cannot hold comes back as U+FFFD, config or not.
XML_RENAME: dict[str, str | None] = {WEIRD.replace("\x01", "\ufffd"): WEIRD}
# What the export writes that a Label Studio file alone (without its config) cannot name back:
# a keypoint class's control is `keypoints-<class id>` (the object's label here), and a
# classification's attribute is a whole-image choice (read as a classification of its value:
# left out).
RENAME: dict[str, str | None] = {"keypoints-12": "pose", "clear": None, **XML_RENAME}


def test_our_own_export_with_its_config_maps_back_as_it_was(tmp_path: Path) -> None:
    # with config.xml beside tasks.json: the pose's class, its every keypoint name (so the one
    # not placed comes back as not placed) and hidden point, attributes by name and type
    found = read(exported(tmp_path, ITEMS, config=True))
    assert found.notes[0] == "labeling config read: config.xml (8 controls)"
    assert found.skeletons == {"pose": ("head", "left_hand", "right_hand", "hip")}
    mapped = map_onto(found, ONTOLOGY, rename=XML_RENAME)
    assert mapped.report.ok, mapped.report.refused
    assert mapped.report.dropped_attributes == 0
    assert not [n for n in found.notes if "dropped" in n or "does not have" in n]
    assert [i.name.split(".")[0] for i in found.images] == [i.item_id for i in ITEMS]
    compared = 0
    for item, foreign in zip(ITEMS, found.images, strict=True):
        back = mapped.annotations[foreign.name].shapes
        # the export writes an image's classifications last, as one choices result
        ordered = sorted(item.shapes, key=lambda s: s.kind == "classification")
        assert len(back) == len(ordered)
        for original, returned in zip(ordered, back, strict=True):
            assert (returned.kind, returned.class_id) == (original.kind, original.class_id)
            assert returned.attributes == original.attributes
            if isinstance(original, BoxShape):
                assert returned.bbox == pytest.approx(original.bbox)  # type: ignore[union-attr]
            elif isinstance(original, PolygonShape | PolylineShape):
                got = [v for p in returned.points for v in p]  # type: ignore[union-attr]
                assert got == pytest.approx([v for p in original.points for v in p])
            elif isinstance(original, KeypointsShape):
                got = [v for k in returned.keypoints for v in k]  # type: ignore[union-attr]
                assert got == pytest.approx([v for k in original.keypoints for v in k])
                assert [k[2] for k in returned.keypoints] == [2, 1, 0, 2]  # type: ignore[union-attr]
            compared += 1
    assert compared == 3 + 1 + 6
    # as the reader gives them: a boolean, and the classification's attribute on it
    assert found.images[0].shapes[1].attributes == {"occluded": True}
    assert found.images[2].shapes[-1] == ForeignShape(
        "weather", "classification", attributes={"sky": "clear"}
    )


def test_a_config_named_is_read_and_the_same_as_one_beside(tmp_path: Path) -> None:
    beside = read(exported(tmp_path / "a", ITEMS, config=True))
    elsewhere = tmp_path / "b"
    tasks = exported(elsewhere, ITEMS)
    (tmp_path / "project.xml").write_bytes((tmp_path / "a" / "config.xml").read_bytes())
    named = read(tasks, config=tmp_path / "project.xml")
    assert named.images == beside.images and named.skeletons == beside.skeletons
    assert named.notes[0] == "labeling config read: project.xml (8 controls)"
    assert read(tmp_path / "a").images == beside.images  # the folder, its config beside
    assert read(tasks).images != beside.images  # no config: as below


def test_our_own_export_without_its_config_maps_back_shape_by_shape(tmp_path: Path) -> None:
    # every keypoint placed: the file has no names for the ones that were not
    items = EVERY_KEYPOINT_PLACED
    found = read(exported(tmp_path, items))
    mapped = map_onto(found, ONTOLOGY, rename=RENAME)
    assert mapped.report.ok, mapped.report.refused
    assert [i.name.split(".")[0] for i in found.images] == [i.item_id for i in items]
    # the attributes' controls are named attr-<class id>-<n> (and a hidden keypoint's is
    # keypoints-<class id>-hidden): no attribute of the ontology has those names
    assert mapped.report.dropped_attributes == 2
    for item, foreign in zip(items, found.images, strict=True):
        back = mapped.annotations[foreign.name].shapes
        # the export writes an image's classifications last, as one choices result
        ordered = sorted(item.shapes, key=lambda s: s.kind == "classification")
        assert len(back) == len(ordered)
        for original, returned in zip(ordered, back, strict=True):
            assert (returned.kind, returned.class_id) == (original.kind, original.class_id)
            assert returned.attributes == {}
            if isinstance(original, BoxShape):
                assert returned.bbox == pytest.approx(original.bbox)  # type: ignore[union-attr]
            elif isinstance(original, PolygonShape | PolylineShape):
                got = [v for p in returned.points for v in p]  # type: ignore[union-attr]
                assert got == pytest.approx([v for p in original.points for v in p])
            elif isinstance(original, KeypointsShape):
                # Label Studio's points have no visibility: a hidden one comes back visible
                got = [v for k in returned.keypoints for v in k]  # type: ignore[union-attr]
                assert got == pytest.approx(
                    [v for x, y, _ in original.keypoints for v in (x, y, 2)]
                )


def test_our_own_masks_come_back_pixel_for_pixel(tmp_path: Path) -> None:
    ontology = Ontology(classes=(OntologyClass(id=4, name="puddle", kind="mask"),))
    wanted = blob()
    item = make_item("itm_mask", (MaskShape(class_id=4, rle=masks.encode(wanted)),), (W, H))
    files, _ = build(tmp_path, (item,), formats=("labelstudio",), ontology=ontology)
    path = write(tmp_path, json.loads(files["labelstudio/tasks.json"]), name="tasks.json")
    found = read(path)
    [shape] = map_onto(found, ontology).annotations[found.images[0].name].shapes
    assert isinstance(shape, MaskShape) and np.array_equal(masks.decode(shape.rle), wanted)


def test_two_tasks_naming_one_image_are_refused(tmp_path: Path) -> None:
    # two uploads of one file: different prefixes, one name once they are stripped
    box = annotation([rect("a", "car", 0, 0, 1, 1)])
    tasks = [task(annotations=[box]), task("/data/upload/3/99999999-street.jpg", [box])]
    assert refusal(tmp_path, tasks) == (
        "export.json task 1: task 0 names the image 'street.jpg' too: an image is imported once"
        " (two uploads of one file? stripping the upload prefix makes them one)"
    )


# ----- with a labeling config ------------------------------------------------------------------


HINTED = """<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="box" toName="image"><Label value="person"/></RectangleLabels>
  <Header value="pose"/>
  <KeyPointLabels name="kp" toName="image" aviaryClass="pose">
    <Label value="hip" model_index="1"/><Label value="head" model_index="0"/>
  </KeyPointLabels>
  <Choices name="kp-hidden" toName="image" perRegion="true" aviaryClass="pose"
           aviaryRole="hidden"><Choice value="hidden"/></Choices>
  <Choices name="classification" toName="image" choice="multiple">
    <Choice value="weather"/><Choice value="night"/></Choices>
  <View visibleWhen="region-selected" whenTagName="box">
    <Header value="person: occluded"/>
    <Choices name="attr-2-0" toName="image" perRegion="true" aviaryClass="person"
             aviaryAttribute="occluded" aviaryType="boolean">
      <Choice value="true"/><Choice value="false"/></Choices>
    <TextArea name="attr-2-1" toName="image" perRegion="true" aviaryClass="person"
              aviaryAttribute="note" aviaryType="text"/>
  </View>
  <Choices name="attr-13-0" toName="image" aviaryClass="weather" aviaryAttribute="sky"
           aviaryType="enum"><Choice value="clear"/><Choice value="rain"/></Choices>
  <TextArea name="attr-14-0" toName="image" aviaryClass="night" aviaryAttribute="moon"
            aviaryType="text"/>
</View>
"""


def configured(tmp_path: Path, config: str, *results: dict[str, Any]) -> ForeignSet:
    """One task's results read with `config` as config.xml beside them."""
    (tmp_path / "config.xml").write_text(config)
    return one(tmp_path, *results)


def test_the_config_s_controls(tmp_path: Path) -> None:
    path = tmp_path / "config.xml"
    path.write_text(HINTED)
    controls = read_config(path)
    assert list(controls) == [
        "box",
        "kp",
        "kp-hidden",
        "classification",
        "attr-2-0",
        "attr-2-1",
        "attr-13-0",
        "attr-14-0",
    ]
    assert controls["box"] == Control("box", "RectangleLabels", ("person",), False)
    assert controls["kp"] == Control("kp", "KeyPointLabels", ("head", "hip"), False, "pose")
    assert controls["kp-hidden"].role == "hidden" and controls["kp-hidden"].per_region
    assert controls["attr-2-0"] == Control(
        "attr-2-0", "Choices", ("true", "false"), True, "person", "occluded", "boolean"
    )
    assert controls["attr-14-0"].tag == "TextArea" and controls["attr-14-0"].labels == ()


def test_hinted_attributes_are_named_and_typed(tmp_path: Path) -> None:
    box = rect("r1", "person", 0, 0, 10, 10, from_name="box")
    occluded = choices("r1", ["false"], "attr-2-0")
    note = {"id": "r1", "type": "textarea", "from_name": "attr-2-1", "value": {"text": ["a", "b"]}}
    other = rect("r2", "person", 0, 0, 10, 10, from_name="box")
    odd = choices("r2", ["maybe"], "attr-2-0")  # not a boolean: kept as text (the mapping drops)
    found = configured(tmp_path, HINTED, box, occluded, note, other, odd)
    first, second = found.images[0].shapes
    assert first.attributes == {"occluded": False, "note": "a\nb"}
    assert second.attributes == {"occluded": "maybe"}


def test_classification_attributes_go_onto_their_classification(tmp_path: Path) -> None:
    chosen = choices("classification", ["weather"], "classification")
    sky = choices("s3a0", ["rain"], "attr-13-0")
    moon = {"id": "m", "type": "textarea", "from_name": "attr-14-0", "value": {"text": ["full"]}}
    found = configured(tmp_path, HINTED, chosen, sky, moon)
    assert found.images[0].shapes == (
        ForeignShape("weather", "classification", attributes={"sky": "rain"}),
    )  # "night" is not chosen: its attribute has nothing to go on
    assert "1 attributes of a classification the task does not choose, dropped" in found.notes


def test_a_hinted_keypoint_control_names_the_object_and_every_keypoint(tmp_path: Path) -> None:
    # one point: an object of the control's class, not a lone one-keypoint shape; the config's
    # order (model_index) and every name, the one not placed given as not placed
    hip = point("s0k1", "hip", 10, 10)
    hip["from_name"] = "kp"
    hidden = choices("s0k1", ["hidden"], "kp-hidden")
    found = configured(tmp_path, HINTED, hip, hidden)
    assert found.images[0].shapes == (
        ForeignShape("pose", "keypoints", keypoints=((0, 0, 0), (20, 10, 1))),
    )
    assert found.skeletons == {"pose": ("head", "hip")}
    assert not [n for n in found.notes if "one-keypoint" in n or "named by their control" in n]
    assert (
        "1 keypoints linked to no other point, each read as an object of its control's class"
        " with that one point placed"
    ) in found.notes


PLAIN = """<View>
  <Image name="image" value="$image"/>
  <KeyPointLabels name="kp" toName="image">
    <Label value="head"/><Label value="hip"/><Label value="tail"/></KeyPointLabels>
  <Choices name="weather" toName="image"><Choice value="clear"/></Choices>
  <Choices name="occluded" toName="image" perRegion="true"><Choice value="yes"/></Choices>
</View>
"""


def test_a_config_without_hints_gives_the_keypoints_names_only(tmp_path: Path) -> None:
    # Label Studio's own config: its KeyPointLabels' labels are the skeleton, the object is
    # still named by the control; a per-region control's result with no region is dropped
    # (not taken for a classification), and a control it does not have is noted
    related = [point("a", "hip", 10, 10), point("b", "head", 10, 50, parentID="a")]
    orphan = choices("gone", ["yes"], "occluded")
    found = configured(
        tmp_path, PLAIN, *related, orphan, choices("c", ["clear"]), choices("d", ["x"], "mood")
    )
    assert found.images[0].shapes == (
        ForeignShape("kp", "keypoints", keypoints=((20, 50, 2), (20, 10, 2), (0, 0, 0))),
        ForeignShape("clear", "classification"),
        ForeignShape("x", "classification"),
    )
    assert found.skeletons == {"kp": ("head", "hip", "tail")}
    assert any("'occluded' (choices: 1)" in n and "dropped" in n for n in found.notes)
    assert "results of controls the labeling config does not have: 'mood' (1)" in found.notes


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            '<!DOCTYPE View [<!ENTITY a "x">]><View>&a;</View>',
            "config.xml: a DOCTYPE or ENTITY declaration: refused (a labeling config needs none)",
        ),
        ("<View><Choices></View>", "config.xml: not well-formed XML: mismatched tag"),
        (
            '<View><Choices name="a" toName="i"/><TextArea name="a" toName="i"/></View>',
            "config.xml: two controls are named 'a'",
        ),
    ],
)
def test_a_bad_config_is_refused(tmp_path: Path, config: str, message: str) -> None:
    (tmp_path / "config.xml").write_text(config)
    assert message in refusal(tmp_path, [task(annotations=[annotation([])])])


def test_a_config_named_but_missing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ForeignFormatError, match="cannot read the labeling config"):
        read(write(tmp_path, []), config=tmp_path / "nope.xml")
