"""KITTI labels in delivery packages (services/export/formats/kitti.py): the 15 fields of each
line, boxes from boxes, polygons and masks, class names as single fields, truncation and
occlusion from attributes, empty images, and the labels read back by Datumaro's own
`kitti_detection` and `kitti` importers, box by box.

The sample items are those of test_export_formats.py and test_export_masks.py; expected values
are worked out by hand next to them.
"""

from __future__ import annotations

import dataclasses
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aviary.contracts.shapes import (
    BoxShape,
    MaskShape,
    Ontology,
    OntologyClass,
    PolygonShape,
    Shape,
)
from services.export.formats import PackageItem, PackageWriter
from services.export.formats.kitti import kitti_name, kitti_names
from shared.domain import masks
from shared.domain.geometry import shape_box
from tests.unit import test_export_masks as with_masks
from tests.unit.test_export_datumaro import read_back, spec, unzip, with_image
from tests.unit.test_export_formats import (
    CLASSES,
    EMPTY,
    ITEMS,
    NASTY,
    ROTATED,
    SHAPES,
    STREET,
    WEIRD,
    build,
    make_item,
)

NAMES = {c.id: c.name for c in CLASSES}
NO_3D = ["-1", "-1", "-1", "-1000", "-1000", "-1000", "-10"]  # h w l, x y z, rotation_y


def lines(files: dict[str, bytes], item: PackageItem) -> list[list[str]]:
    """The item's label file, each line split at its spaces (it ends with a line break)."""
    text = files[f"kitti/label_2/{item.item_id}.txt"].decode()
    assert text == "" or text.endswith("\n")
    return [line.split(" ") for line in text.split("\n")[:-1]]


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, bytes]:
    return build(tmp_path, formats=("kitti",))[0]


def test_each_line_has_kittis_15_fields(files: dict[str, bytes]) -> None:
    assert lines(files, STREET) == [
        # type truncated occluded alpha | x1 y1 x2 y2 (x + w, y + h) | 3-D: not annotated
        ["car", "0.00", "0", "-10", "64.00", "48.00", "192.00", "144.00", *NO_3D],
        # occluded (an attribute, true): 1, partly; 300.5 + 20 = 320.5, 100.25 + 60.5 = 160.75
        ["person", "0.00", "1", "-10", "300.50", "100.25", "320.50", "160.75", *NO_3D],
        ['<car_&_"bus">', "0.00", "0", "-10", "0.00", "0.00", "16.00", "12.00", *NO_3D],
    ]
    assert lines(files, ROTATED) == [  # in the displayed frame, 480 wide
        ["person", "0.00", "0", "-10", "48.00", "96.00", "144.00", "160.00", *NO_3D]
    ]


def test_polygons_are_their_bounds_and_other_kinds_are_left_out(files: dict[str, bytes]) -> None:
    # SHAPES: square, triangle, lane (polyline), pose, sky (classification), WEIRD's box
    assert [line[:8] for line in lines(files, SHAPES)] == [
        ["road", "0.00", "0", "-10", "10.00", "10.00", "30.00", "30.00"],
        ["road", "0.00", "0", "-10", "0.00", "0.00", "40.00", "30.00"],
        ['line_break\x01:_"x"_#_🚗', "0.00", "0", "-10", "25.00", "50.00", "75.00", "70.00"],
    ]


def test_every_item_has_a_label_file_empty_without_objects(files: dict[str, bytes]) -> None:
    assert files["kitti/label_2/itm_empty.txt"] == b""
    labels = sorted(n for n in files if n.startswith("kitti/label_2/"))
    assert labels == sorted(f"kitti/label_2/{i.item_id}.txt" for i in ITEMS)
    assert sorted(n for n in files if n.startswith("kitti/")) == ["kitti/classes.txt", *labels]


def test_counts_boxes_and_polygon_bounds_only(tmp_path: Path) -> None:
    _, summary = build(tmp_path, formats=("kitti",))
    assert summary.annotations == 7  # 5 boxes, 2 polygons


def test_class_names_become_single_fields(files: dict[str, bytes]) -> None:
    assert files["kitti/classes.txt"].decode().split("\n") == [
        "car",
        "person",
        "traffic_light",
        "road",  # not lane (polyline), pose or weather: no box comes from them
        '<car_&_"bus">',
        'line_break\x01:_"x"_#_🚗',  # the line break too: names stay on their line
        "",
    ]
    assert kitti_name(NASTY) == '<car_&_"bus">'
    assert kitti_name(WEIRD) == 'line_break\x01:_"x"_#_🚗'
    assert kitti_name("a\tb\u00a0c\u2028d\x1fe") == "a_b_c_d_e"  # all that str.split() splits on
    for line in (ln for item in ITEMS for ln in lines(files, item)):
        assert len(line) == 15 and " ".join(line).split() == line


def test_names_that_would_collide_stay_apart() -> None:
    assert kitti_names([(1, "traffic light"), (2, "traffic_light"), (3, "car")]) == {
        1: "traffic_light",
        2: "traffic_light_2",
        3: "car",
    }


def test_truncated_and_occluded_come_from_attributes(tmp_path: Path) -> None:
    ontology = Ontology(classes=(OntologyClass(id=1, name="Car"),))

    def car(**attributes: str | bool) -> BoxShape:
        return BoxShape(class_id=1, bbox=(1, 2, 3, 4), attributes=attributes)

    shapes: tuple[Shape, ...] = (
        car(truncated=True, occluded=False),
        car(truncated="0.3", occluded="2"),  # KITTI's own levels, as text or options
        car(truncated="lots", occluded="hidden"),  # not numbers: unknown, written as 0
        car(truncated="1.5", occluded="7"),  # out of KITTI's range: unknown
        car(colour="red"),
    )
    item = make_item("itm_a", shapes, (10, 10))
    files, _ = build(tmp_path, (item,), formats=("kitti",), ontology=ontology)
    got = [line[1:3] for line in lines(files, item)]
    assert got == [["1.00", "0"], ["0.30", "2"], ["0.00", "0"], ["0.00", "0"], ["0.00", "0"]]


def test_boxes_are_kept_inside_the_image(tmp_path: Path) -> None:
    ontology = Ontology(classes=(OntologyClass(id=1, name="car"),))
    item = make_item("itm_edge", (BoxShape(class_id=1, bbox=(-5.5, 90, 20, 30)),), (100, 100))
    files, _ = build(tmp_path, (item,), formats=("kitti",), ontology=ontology)
    # -5.5..14.5 by 90..120 in a 100x100 image
    assert lines(files, item)[0][4:8] == ["0.00", "90.00", "14.50", "100.00"]


def test_unknown_classes_are_left_out(tmp_path: Path) -> None:
    odd = make_item(
        "itm_odd",
        (BoxShape(class_id=99, bbox=(1, 1, 2, 2)), BoxShape(class_id=1, bbox=(3, 3, 4, 4))),
        (100, 100),
    )
    files, summary = build(tmp_path, (odd,), formats=("kitti",))
    assert [line[0] for line in lines(files, odd)] == ["car"]
    assert summary.annotations == 1


# ----- masks -------------------------------------------------------------------------------


def test_a_mask_is_the_box_of_its_pixels(tmp_path: Path) -> None:
    blank = MaskShape(class_id=4, rle=masks.encode(np.zeros((with_masks.H, with_masks.W), bool)))
    item = make_item("itm_masks", (*with_masks.STREET.shapes, blank), (with_masks.W, with_masks.H))
    files, summary = with_masks.package(tmp_path, item, formats=("kitti",))
    x, y, w, h = masks.bbox(with_masks.ROAD.rle)
    assert y + h == with_masks.H  # the road touches the bottom edge
    assert [line[:8] for line in lines(files, item)] == [
        ["car", "0.00", "0", "-10", "10.00", "10.00", "40.00", "30.00"],
        ["road", "0.00", "0", "-10", f"{x:.2f}", f"{y:.2f}", f"{x + w:.2f}", f"{y + h:.2f}"],
        # pixels 120..149 and 10..24: their edges
        ["puddle", "0.00", "0", "-10", "120.00", "10.00", "150.00", "25.00"],
    ]  # and no line for the empty mask
    assert summary.annotations == 3
    # a model's confidence has no place on a ground-truth line
    assert all(len(line) == 15 for line in lines(files, item))


# ----- read back by Datumaro -----------------------------------------------------------------


def expected_boxes(item: PackageItem, names: dict[int, str]) -> list[tuple[str, list[float]]]:
    """The boxes Datumaro should read: from boxes, polygons and non-empty masks."""
    boxes = []
    for shape in item.shapes:
        if isinstance(shape, BoxShape | PolygonShape | MaskShape):
            box = shape_box(shape)
            if box is not None:
                boxes.append((kitti_name(names[shape.class_id]), list(box)))
    return boxes


def check_boxes(got: dict[str, Any], items: tuple[PackageItem, ...], names: dict[int, str]) -> None:
    read = {i["id"]: i for i in got["items"]}
    assert sorted(read) == sorted(i.item_id for i in items)
    for item in items:
        anns = read[item.item_id]["annotations"]
        want = expected_boxes(item, names)
        assert [(a["type"], a["label"]) for a in anns] == [("bbox", n) for n, _ in want]
        for ann, (_, box) in zip(anns, want, strict=True):
            assert ann["bbox"] == pytest.approx(box, abs=0.005)


@pytest.mark.parametrize("fmt", ["kitti_detection", "kitti"])
def test_datumaro_reads_the_boxes_back(tmp_path: Path, datumaro: Path, fmt: str) -> None:
    files, _ = build(tmp_path, formats=("kitti",))
    got = read_back(datumaro, unzip(files, tmp_path / "out") / "kitti", fmt)
    check_boxes(got, ITEMS, NAMES)
    # Datumaro guesses the format from label files named *_*.txt, as item ids (itm_...) are
    assert "kitti_detection" in got["detected"]
    person = next(i for i in got["items"] if i["id"] == STREET.item_id)["annotations"][1]
    assert person["attributes"] == {"truncated": False, "occluded": True}
    assert [i["annotations"] for i in got["items"] if i["id"] == EMPTY.item_id] == [[]]


def test_datumaro_reads_the_boxes_of_masks(tmp_path: Path, datumaro: Path) -> None:
    files, _ = with_masks.package(tmp_path, formats=("kitti",))
    got = read_back(datumaro, unzip(files, tmp_path / "out") / "kitti", "kitti_detection")
    names = {c.id: c.name for c in with_masks.ONTOLOGY.classes}
    check_boxes(got, (with_masks.STREET,), names)


def test_datumaro_pairs_the_images_moved_to_image_2(tmp_path: Path, datumaro: Path) -> None:
    items = (with_image(SHAPES), with_image(STREET))  # in id order, as Datumaro lists them
    zip_path = tmp_path / "delivery.zip"
    kitti_spec = dataclasses.replace(spec(include_images=True), formats=("kitti",))
    with PackageWriter(zip_path, tmp_path, kitti_spec) as writer:
        for item in items:
            writer.add(item)
        writer.close()
    root = tmp_path / "out"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root)
    shutil.move(root / "images", root / "kitti" / "image_2")  # as the format's doc says
    got = read_back(datumaro, root / "kitti", "kitti_detection")
    for read, item in zip(got["items"], items, strict=True):
        assert read["id"] == item.item_id
        assert Path(read["path"]).parent == root / "kitti" / "image_2"
        assert read["size"] == [item.height, item.width]
        assert len(read["annotations"]) == len(expected_boxes(item, NAMES))
