"""Turned boxes and smooth lines: their geometry, validation, consensus and tracks, and every
format that writes them, read back by our importers (and by Datumaro, where installed)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from aviary.contracts.shapes import (
    Annotation,
    BoxShape,
    Ontology,
    OntologyClass,
    PolylineShape,
    curve_points,
    turned_box,
)
from aviary.interop import coco, cvat, labelstudio
from aviary_devkit.interop import run_tool
from services.review.consensus import consensus, match_score, similarity
from shared.domain.annotation_rules import validate_annotation
from shared.domain.geometry import shape_box
from shared.domain.tracks import interpolate
from tests.unit.test_export_formats import build, make_item

CAR = BoxShape(class_id=1, bbox=(100, 50, 80, 40), rotation=30)
STRAIGHT = BoxShape(class_id=1, bbox=(100, 50, 80, 40))
BEND = PolylineShape(class_id=11, points=((0, 200), (150, 120), (300, 100)), smooth=True)
ONTOLOGY = Ontology(
    classes=(OntologyClass(id=1, name="car"), OntologyClass(id=11, name="lane", kind="polyline"))
)
ITEM = make_item("itm_turned", (CAR, BEND, STRAIGHT), (400, 300))


# ----- geometry ----------------------------------------------------------------------------


def test_corners_turn_clockwise_about_the_centre_and_the_outer_box_holds_them() -> None:
    quarter = BoxShape(class_id=1, bbox=(10, 10, 20, 10), rotation=90)
    # On screen (y down) a quarter turn clockwise takes the top-left corner to the top-right.
    flat = [c for corner in quarter.corners() for c in corner]
    assert flat == pytest.approx([25, 5, 25, 25, 15, 25, 15, 5])
    assert quarter.outer_box() == pytest.approx((15, 5, 10, 20))
    assert STRAIGHT.outer_box() == STRAIGHT.bbox and shape_box(CAR) == CAR.outer_box()
    x, y, w, h = CAR.outer_box()
    assert all(
        x - 1e-9 <= cx <= x + w + 1e-9 and y - 1e-9 <= cy <= y + h + 1e-9
        for cx, cy in CAR.corners()
    )


def test_turned_box_is_the_box_whose_turned_corner_is_given() -> None:
    bbox, rotation = turned_box(CAR.corners()[0], 80, 40, 30)
    assert bbox == pytest.approx(CAR.bbox) and rotation == 30
    assert turned_box((5, 6), 7, 8, 720) == ((5, 6, 7, 8), 0.0)
    with pytest.raises(ValueError, match="less than 360"):
        BoxShape(class_id=1, bbox=(0, 0, 1, 1), rotation=360)


def test_a_curve_passes_through_every_point_and_a_straight_line_is_its_points() -> None:
    curve = BEND.line()
    assert len(curve) == 1 + 8 * (len(BEND.points) - 1)
    assert (
        curve[0] == BEND.points[0] and curve[8] == BEND.points[1] and curve[-1] == BEND.points[-1]
    )
    assert curve[4] != pytest.approx((75, 160))  # bends: not the chord's midpoint
    assert PolylineShape(class_id=11, points=BEND.points).line() == BEND.points
    assert curve_points(((0, 0), (1, 1))) == ((0, 0), (1, 1))


# ----- validation, consensus, tracks -------------------------------------------------------


def test_a_turned_box_is_inside_when_its_corners_are() -> None:
    assert validate_annotation(Annotation(shapes=(CAR,)), ONTOLOGY, 400, 300) == []
    # Inside the image before it turns, a corner outside once turned.
    edge = BoxShape(class_id=1, bbox=(0, 0, 100, 20), rotation=45)
    [error] = validate_annotation(Annotation(shapes=(edge,)), ONTOLOGY, 400, 300)
    assert error.code == "outside_image" and "turned 45°" in error.message


def test_turned_boxes_match_by_their_outlines_and_merge_on_the_circle() -> None:
    diagonal = 500.0
    assert similarity(CAR, CAR, diagonal) == pytest.approx(1.0)
    assert 0.3 < similarity(CAR, STRAIGHT, diagonal) < 0.9
    a = BoxShape(class_id=1, bbox=(100, 50, 80, 40), rotation=350)
    b = BoxShape(class_id=1, bbox=(100, 50, 80, 40), rotation=10)
    result = consensus([Annotation(shapes=(a,)), Annotation(shapes=(b,))], 400, 300)
    [merged] = result.merged.shapes
    assert isinstance(merged, BoxShape) and merged.rotation == pytest.approx(0, abs=1e-6)
    assert result.agreement == 1.0
    across = BoxShape(class_id=1, bbox=(100, 50, 80, 40), rotation=90)  # a third overlaps
    assert similarity(across, STRAIGHT, diagonal) == pytest.approx(1 / 3)
    assert match_score(Annotation(shapes=(across,)), Annotation(shapes=(STRAIGHT,)), 400, 300) == 0
    assert match_score(Annotation(shapes=(CAR,)), Annotation(shapes=(CAR,)), 400, 300) == 1


def test_a_tracks_box_turns_the_shorter_way_between_keyframes() -> None:
    a = BoxShape(class_id=1, bbox=(0, 0, 10, 10), rotation=350)
    b = BoxShape(class_id=1, bbox=(10, 0, 10, 10), rotation=30)
    half = interpolate(a, b, 0.5)
    assert isinstance(half, BoxShape) and half.rotation == pytest.approx(10)
    assert half.bbox == (5, 0, 10, 10)


# ----- formats -----------------------------------------------------------------------------


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, bytes]:
    formats = ("coco", "yolo", "jsonl", "cvat", "labelstudio", "datumaro")
    written, _ = build(tmp_path / "package", (ITEM,), formats=formats, ontology=ONTOLOGY)
    return written


def unpack(files: dict[str, bytes], path: str, tmp_path: Path) -> Path:
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(files[path])
    return target


def test_coco_gives_the_box_around_it_its_outline_and_its_rotation(
    files: dict[str, bytes], tmp_path: Path
) -> None:
    document = json.loads(files["coco/annotations.json"])
    turned, straight = document["annotations"]  # the line has no COCO form
    assert turned["bbox"] == pytest.approx(list(CAR.outer_box()))
    assert turned["segmentation"] == [pytest.approx([c for p in CAR.corners() for c in p])]
    assert turned["attributes"] == {"rotation": 30} and turned["area"] == 80 * 40
    assert straight["bbox"] == [100, 50, 80, 40] and "attributes" not in straight
    found = coco.read(unpack(files, "coco/annotations.json", tmp_path))
    back, plain = found.images[0].shapes
    assert back.kind == "bbox" and back.bbox == pytest.approx(CAR.bbox) and back.rotation == 30
    assert (plain.bbox, plain.rotation) == ((100, 50, 80, 40), 0.0)


def test_yolo_gives_the_box_around_it(files: dict[str, bytes]) -> None:
    [turned, straight] = files["yolo/labels/itm_turned.txt"].decode().splitlines()
    x, y, w, h = CAR.outer_box()
    expected = [0, (x + w / 2) / 400, (y + h / 2) / 300, w / 400, h / 300]
    assert [float(v) for v in turned.split()] == pytest.approx(expected, abs=1e-6)
    assert straight.split()[3:] == ["0.200000", "0.133333"]


def test_cvat_keeps_the_rotation_and_the_curve_as_points(
    files: dict[str, bytes], tmp_path: Path
) -> None:
    root = ET.fromstring(files["cvat/annotations.xml"])  # noqa: S314 - our own output
    turned, straight = root.iter("box")
    assert float(turned.get("rotation") or 0) == 30 and straight.get("rotation") is None
    assert (float(turned.get("xtl") or 0), float(turned.get("ybr") or 0)) == (100, 90)
    [line] = root.iter("polyline")
    points = [float(c) for p in (line.get("points") or "").split(";") for c in p.split(",")]
    assert points == pytest.approx([c for p in BEND.line() for c in p], abs=0.01)
    found = cvat.read(unpack(files, "cvat/annotations.xml", tmp_path))
    shapes = {s.kind: s for s in found.images[0].shapes if s.rotation}
    assert shapes["bbox"].bbox == pytest.approx(CAR.bbox) and shapes["bbox"].rotation == 30


def test_label_studio_turns_about_the_corner_and_reads_back_the_same_box(
    files: dict[str, bytes], tmp_path: Path
) -> None:
    tasks = json.loads(files["labelstudio/tasks.json"])
    results = tasks[0]["annotations"][0]["result"]
    box = next(r for r in results if r["type"] == "rectanglelabels" and r["value"]["rotation"])
    corner = CAR.corners()[0]
    assert (box["value"]["x"], box["value"]["y"]) == pytest.approx(
        (corner[0] / 4, corner[1] / 3), abs=0.01
    )
    line = next(r for r in results if r["type"] == "vectorlabels")
    assert len(line["value"]["vertices"]) == len(BEND.line())
    found = labelstudio.read(unpack(files, "labelstudio/tasks.json", tmp_path))
    back = next(s for s in found.images[0].shapes if s.rotation)
    assert back.bbox == pytest.approx(CAR.bbox, abs=0.05) and back.rotation == pytest.approx(30)


def test_jsonl_and_datumaro_json_keep_both(files: dict[str, bytes]) -> None:
    [record] = [json.loads(line) for line in files["jsonl/annotations.jsonl"].splitlines()]
    turned, line, straight = record["shapes"]
    assert turned["rotation"] == 30 and "rotation" not in straight
    assert line["smooth"] is True and line["curve"] == [list(p) for p in BEND.line()]
    document = json.loads(files["datumaro/annotations/default.json"])
    anns = document["items"][0]["annotations"]
    assert anns[0]["attributes"]["rotation"] == 30 and "rotation" not in anns[2]["attributes"]
    assert len(anns[1]["points"]) == 2 * len(BEND.line())


DATUMARO_READ = """
import json, sys
from datumaro.components.dataset import Dataset
ds = Dataset.import_from(sys.argv[1], "cvat")
anns = [a for item in ds for a in item.annotations]
print(json.dumps([[a.type.name, [a.cx, a.cy, a.w, a.h, a.r] if hasattr(a, "r") else None]
                  for a in anns]))
"""


def test_datumaro_reads_cvats_turned_box(
    files: dict[str, bytes], tmp_path: Path, datumaro: Path
) -> None:
    folder = tmp_path / "cvat"
    (folder / "images").mkdir(parents=True)
    (folder / "annotations.xml").write_bytes(files["cvat/annotations.xml"])
    (folder / "images" / f"{ITEM.item_id}.jpg").write_bytes(b"")  # the name CVAT's XML gives
    got = json.loads(run_tool(datumaro, DATUMARO_READ, str(folder)))
    # Datumaro reads it as its rotated box: centre, size and the same clockwise turn.
    assert got == [["rotated_bbox", [140, 70, 80, 40, 30]], ["polyline", None], ["bbox", None]]
