"""Unit tests for each delivery format (services/export/formats): COCO polygons and keypoints,
YOLO and YOLO segmentation, Pascal VOC, JSONL, and the escaping of tenant-supplied names.

Expected values are worked out by hand in the comments next to them.
"""

from __future__ import annotations

import dataclasses
import json
import xml.dom.minidom
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from pycocotools import mask
from pycocotools.coco import COCO
from pydantic import TypeAdapter

from aviary.contracts.shapes import (
    AttributeSpec,
    BoxShape,
    ClassificationShape,
    KeypointsShape,
    Ontology,
    OntologyClass,
    PolygonShape,
    PolylineShape,
    Shape,
    Skeleton,
)
from services.export.formats import (
    MANIFEST,
    PackageItem,
    PackageSpec,
    PackageSummary,
    PackageWriter,
)
from services.export.formats.text import fixed6, one_line, xml_text, yaml_quoted
from services.export.formats.voc import pixel

NASTY = '<car & "bus">'
WEIRD = 'line\nbreak\x01: "x" # 🚗'
CLASSES = (
    OntologyClass(id=1, name="car"),  # YOLO index 0
    OntologyClass(
        id=2, name="person", attributes=(AttributeSpec(name="occluded", type="boolean"),)
    ),  # 1
    OntologyClass(id=7, name="traffic light"),  # 2
    OntologyClass(id=10, name="road", kind="polygon"),  # 3
    OntologyClass(id=11, name="lane", kind="polyline"),  # 4
    OntologyClass(
        id=12,
        name="pose",
        kind="keypoints",
        skeleton=Skeleton(
            keypoints=("head", "left_hand", "right_hand", "hip"), edges=((1, 2), (1, 3), (1, 4))
        ),
    ),  # 5
    OntologyClass(
        id=13,
        name="weather",
        kind="classification",
        attributes=(AttributeSpec(name="sky", type="enum", options=("clear", "rain")),),
    ),  # 6
    OntologyClass(id=20, name=NASTY),  # 7
    OntologyClass(id=21, name=WEIRD),  # 8
)
ONTOLOGY = Ontology(classes=CLASSES)
NAMES = [c.name for c in CLASSES]
CLASS_NAMES = {c.id: c.name for c in CLASSES}

SQUARE = PolygonShape(class_id=10, points=((10, 10), (30, 10), (30, 30), (10, 30)))  # area 20*20
TRIANGLE = PolygonShape(class_id=10, points=((0, 0), (40, 0), (0, 30)))  # area 40*30/2
LANE = PolylineShape(class_id=11, points=((0, 50), (100, 50)))
POSE = KeypointsShape(class_id=12, keypoints=((50, 10, 2), (40, 30, 1), (0, 0, 0), (55, 60, 2)))
SKY = ClassificationShape(class_id=13, attributes={"sky": "clear"})


def make_item(
    item_id: str,
    shapes: tuple[Shape, ...],
    size: tuple[int, int],
    fmt: str = "jpeg",
    reviewer_id: str | None = "usr_reviewer",
) -> PackageItem:
    return PackageItem(
        item_id=item_id,
        file_name=f"client {item_id}.{fmt}",
        format=fmt,
        width=size[0],
        height=size[1],
        ontology_version=2,
        shapes=shapes,
        annotator_id=f"usr_annotator_{item_id}",
        reviewer_id=reviewer_id,
        accepted_at="2024-05-01T12:00:00+00:00",
    )


STREET = make_item(
    "itm_street",
    (
        BoxShape(class_id=1, bbox=(64, 48, 128, 96)),
        BoxShape(class_id=2, bbox=(300.5, 100.25, 20, 60.5), attributes={"occluded": True}),
        BoxShape(class_id=20, bbox=(0, 0, 16, 12)),
    ),
    (640, 480),
)
# Taken in portrait: stored 640x480 with an EXIF rotation, displayed (and annotated) 480x640.
ROTATED = make_item("itm_rotated", (BoxShape(class_id=2, bbox=(48, 96, 96, 64)),), (480, 640))
SHAPES = make_item(
    "itm_shapes",
    (SQUARE, TRIANGLE, LANE, POSE, SKY, BoxShape(class_id=21, bbox=(25, 50, 50, 20))),
    (100, 100),
    fmt="png",
    reviewer_id=None,
)
EMPTY = make_item("itm_empty", (), (800, 600), fmt="webp")
ITEMS = (STREET, ROTATED, SHAPES, EMPTY)
# The same, with every keypoint of the pose placed: formats that name no keypoint (CVAT's
# points, Label Studio's) can only give a pose back whole when nothing is missing from it.
PLACED_POSE = KeypointsShape(
    class_id=12, keypoints=((50, 10, 2), (40, 30, 1), (1, 2, 2), (55, 60, 2))
)
EVERY_KEYPOINT_PLACED = tuple(
    make_item(
        i.item_id,
        tuple(PLACED_POSE if s is POSE else s for s in i.shapes),
        (i.width, i.height),
        fmt=i.format,
        reviewer_id=i.reviewer_id,
    )
    for i in ITEMS
)
ALL = ("coco", "yolo", "voc", "jsonl")


def build(
    tmp_path: Path,
    items: tuple[PackageItem, ...] = ITEMS,
    *,
    formats: tuple[str, ...] = ALL,
    ontology: Ontology = ONTOLOGY,
    include_people: bool = False,
) -> tuple[dict[str, bytes], PackageSummary]:
    """Write a package; return every file in it by path, and the summary."""
    spec = PackageSpec(
        delivery_id="dlv_formats",
        kind="partial",
        project_id="prj_1",
        batch_id="bat_1",
        ontology=ontology,
        project_version=2,
        formats=formats,
        include_images=False,
        include_people=include_people,
    )
    workdir = tmp_path / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    zip_path = tmp_path / "delivery.zip"
    with PackageWriter(zip_path, workdir, spec) as writer:
        for item in items:
            writer.add(item)
        summary = writer.close()
    with zipfile.ZipFile(zip_path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}, summary


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, bytes]:
    return build(tmp_path)[0]


# ----- COCO --------------------------------------------------------------------------------------


@pytest.fixture()
def coco(files: dict[str, bytes], tmp_path: Path) -> COCO:
    path = tmp_path / "annotations.json"
    path.write_bytes(files["coco/annotations.json"])
    return COCO(str(path))


def annotations_of(coco: COCO, item_id: str) -> list[dict[str, Any]]:
    [image] = [i for i in coco.loadImgs(coco.getImgIds()) if i["aviary_item_id"] == item_id]
    anns: list[dict[str, Any]] = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
    return anns


def test_coco_categories_are_the_box_polygon_and_keypoint_classes(coco: COCO) -> None:
    cats = {c["id"]: c for c in coco.loadCats(coco.getCatIds())}
    assert sorted(cats) == [1, 2, 7, 10, 12, 20, 21]  # not lane (polyline) nor weather
    assert {i: c["name"] for i, c in cats.items()} == {
        c.id: c.name for c in CLASSES if c.id in cats
    }
    assert cats[12]["keypoints"] == ["head", "left_hand", "right_hand", "hip"]
    assert cats[12]["skeleton"] == [[1, 2], [1, 3], [1, 4]]
    assert "keypoints" not in cats[1] and "skeleton" not in cats[10]


def test_coco_boxes_match_the_input(coco: COCO) -> None:
    got = sorted(
        (a["category_id"], a["bbox"], a["area"]) for a in annotations_of(coco, STREET.item_id)
    )
    assert got == [
        (1, [64, 48, 128, 96], 128 * 96),
        (2, [300.5, 100.25, 20, 60.5], 20 * 60.5),
        (20, [0, 0, 16, 12], 16 * 12),
    ]


def test_coco_polygons(coco: COCO) -> None:
    polygons = [a for a in annotations_of(coco, SHAPES.item_id) if a["category_id"] == 10]
    square, triangle = sorted(polygons, key=lambda a: a["area"])
    assert square["segmentation"] == [[10, 10, 30, 10, 30, 30, 10, 30]]
    assert square["bbox"] == [10, 10, 20, 20]
    assert square["area"] == pytest.approx(400)  # 20 x 20
    assert triangle["segmentation"] == [[0, 0, 40, 0, 0, 30]]
    assert triangle["bbox"] == [0, 0, 40, 30]
    assert triangle["area"] == pytest.approx(600)  # 40 x 30 / 2
    for ann in (square, triangle):  # pycocotools reads the outline as we meant it
        assert mask.area(coco.annToRLE(ann)) == pytest.approx(ann["area"], rel=0.02)
        assert ann["iscrowd"] == 0


def test_coco_keypoints(coco: COCO) -> None:
    [pose] = [a for a in annotations_of(coco, SHAPES.item_id) if a["category_id"] == 12]
    assert pose["keypoints"] == [50, 10, 2, 40, 30, 1, 0, 0, 0, 55, 60, 2]
    assert pose["num_keypoints"] == 3  # the third point is not labeled
    # around the labeled points only: x 40..55, y 10..60 (not the unlabeled 0, 0)
    assert pose["bbox"] == [40, 10, 15, 50]
    assert pose["area"] == 15 * 50
    assert pose["iscrowd"] == 0


def test_coco_leaves_out_polylines_and_classifications(coco: COCO) -> None:
    anns = annotations_of(coco, SHAPES.item_id)
    assert sorted(a["category_id"] for a in anns) == [10, 10, 12, 21]
    assert not coco.getAnnIds(catIds=[11, 13])
    ids = coco.getAnnIds()
    assert len(ids) == len(set(ids)) == 3 + 1 + 4


def test_coco_leaves_out_unknown_classes_and_foreign_skeletons(tmp_path: Path) -> None:
    odd = make_item(
        "itm_odd",
        (
            BoxShape(class_id=99, bbox=(1, 1, 2, 2)),  # the class is gone from the ontology
            KeypointsShape(class_id=12, keypoints=((1, 1, 2), (2, 2, 2))),  # 2 of 4 keypoints
        ),
        (100, 100),
    )
    files, summary = build(tmp_path, (odd,))
    assert json.loads(files["coco/annotations.json"])["annotations"] == []
    assert files["yolo/labels/itm_odd.txt"] == b""
    assert ET.fromstring(files["voc/Annotations/itm_odd.xml"]).findall("object") == []  # noqa: S314
    [record] = [json.loads(line) for line in files["jsonl/annotations.jsonl"].splitlines()]
    assert [(s["class_id"], s["class_name"]) for s in record["shapes"]] == [
        (99, None),
        (12, "pose"),
    ]
    assert summary.annotations == 2  # both written, to JSONL


# ----- YOLO --------------------------------------------------------------------------------------


def label_lines(files: dict[str, bytes], folder: str, item: PackageItem) -> list[str]:
    return files[f"{folder}/labels/{item.item_id}.txt"].decode().splitlines()


def test_yolo_classes_list_every_class_in_ontology_order(files: dict[str, bytes]) -> None:
    lines = files["yolo/classes.txt"].decode().split("\n")
    assert lines[-1] == ""  # ends with a newline
    assert lines[:-1] == [one_line(n) for n in NAMES]
    assert lines[8] == 'line break\x01: "x" # 🚗'  # the line break may not split the name


def test_yolo_data_yaml(files: dict[str, bytes]) -> None:
    data = yaml.safe_load(files["yolo/data.yaml"].decode())
    assert data == {"nc": 9, "names": NAMES}  # exact names, even the one with a line break


def test_yolo_boxes_are_normalised_by_the_image_size(files: dict[str, bytes]) -> None:
    assert label_lines(files, "yolo", STREET) == [
        # car, index 0: centre (64 + 64, 48 + 48) / (640, 480), size (128, 96) / (640, 480)
        "0 0.200000 0.200000 0.200000 0.200000",
        # person, index 1: cx (300.5 + 10) / 640 = 0.48515625, cy (100.25 + 30.25) / 480
        # = 0.271875, w 20 / 640 = 0.03125, h 60.5 / 480 = 0.1260416...
        "1 0.485156 0.271875 0.031250 0.126042",
        # NASTY, index 7 (its position in the ontology): (8, 6) and (16, 12) over (640, 480)
        "7 0.012500 0.012500 0.025000 0.025000",
    ]


def test_yolo_divides_by_the_displayed_size_of_a_rotated_image(files: dict[str, bytes]) -> None:
    # displayed 480 wide, 640 high: cx (48 + 48) / 480, cy (96 + 32) / 640, w 96 / 480,
    # h 64 / 640. Dividing by the stored 640x480 would give 0.15 0.266667 0.15 0.133333.
    assert label_lines(files, "yolo", ROTATED) == ["1 0.200000 0.200000 0.200000 0.100000"]


def test_yolo_detection_labels_have_boxes_only(files: dict[str, bytes]) -> None:
    # the weird class is index 8; box (25, 50, 50, 20) in 100x100
    assert label_lines(files, "yolo", SHAPES) == ["8 0.500000 0.600000 0.500000 0.200000"]


def test_yolo_label_file_is_empty_without_boxes(files: dict[str, bytes]) -> None:
    assert files["yolo/labels/itm_empty.txt"] == b""
    assert files["yolo-seg/labels/itm_street.txt"] == b""
    labels = sorted(n for n in files if n.startswith("yolo/labels/"))
    assert labels == sorted(f"yolo/labels/{i.item_id}.txt" for i in ITEMS)


def test_yolo_segmentation(files: dict[str, bytes]) -> None:
    assert files["yolo-seg/classes.txt"] == files["yolo/classes.txt"]
    assert label_lines(files, "yolo-seg", SHAPES) == [
        # road, index 3: the square's corners over 100x100
        "3 0.100000 0.100000 0.300000 0.100000 0.300000 0.300000 0.100000 0.300000",
        "3 0.000000 0.000000 0.400000 0.000000 0.000000 0.300000",
    ]
    segs = sorted(n for n in files if n.startswith("yolo-seg/"))
    assert segs == sorted(
        ["yolo-seg/classes.txt"] + [f"yolo-seg/labels/{i.item_id}.txt" for i in ITEMS]
    )


def test_no_yolo_segmentation_without_polygon_classes(tmp_path: Path) -> None:
    boxes_only = Ontology(classes=(CLASSES[0], CLASSES[1]))
    files, _ = build(tmp_path, (STREET, ROTATED), formats=("yolo",), ontology=boxes_only)
    assert not [n for n in files if n.startswith("yolo-seg")]
    assert sorted(files) == [
        MANIFEST,
        "yolo/classes.txt",
        "yolo/data.yaml",
        "yolo/labels/itm_rotated.txt",
        "yolo/labels/itm_street.txt",
    ]
    assert files["yolo/classes.txt"] == b"car\nperson\n"
    # the box of a class that is not in this ontology is left out
    assert label_lines(files, "yolo", STREET) == [
        "0 0.200000 0.200000 0.200000 0.200000",
        "1 0.485156 0.271875 0.031250 0.126042",
    ]


# ----- Pascal VOC --------------------------------------------------------------------------------


def voc_objects(document: bytes) -> list[tuple[str, list[int]]]:
    root = ET.fromstring(document)  # noqa: S314 - our own output
    objects = []
    for obj in root.findall("object"):
        corners = [obj.findtext(f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")]
        assert all(c is not None and c.isdigit() for c in corners)  # integers
        objects.append((obj.findtext("name") or "", [int(c or "") for c in corners]))
    return objects


def test_voc_document(files: dict[str, bytes]) -> None:
    document = files["voc/Annotations/itm_street.xml"]
    root = ET.fromstring(document)  # noqa: S314 - our own output
    assert root.tag == "annotation"
    assert root.findtext("folder") == "images"
    assert root.findtext("filename") == "itm_street.jpg"
    assert [root.findtext(f"size/{k}") for k in ("width", "height", "depth")] == ["640", "480", "3"]
    assert root.findtext("segmented") == "0"
    for obj in root.findall("object"):
        assert obj.findtext("pose") == "Unspecified"
        assert obj.findtext("truncated") == "0"
        assert obj.findtext("difficult") == "0"
    assert voc_objects(document) == [
        ("car", [64, 48, 192, 144]),
        # 300.5 rounds half up to 301; 300.5 + 20 = 320.5 to 321; 100.25 to 100; 160.75 to 161
        ("person", [301, 100, 321, 161]),
        (NASTY, [0, 0, 16, 12]),
    ]


def dom_text(element: xml.dom.minidom.Element) -> str:
    return "".join(n.data for n in element.childNodes if isinstance(n, xml.dom.minidom.Text))


def test_voc_escapes_names_for_standard_parsers(files: dict[str, bytes]) -> None:
    document = files["voc/Annotations/itm_street.xml"]
    assert b'&lt;car &amp; "bus"&gt;' in document
    assert b"<car &" not in document
    dom = xml.dom.minidom.parseString(document)  # noqa: S318 - our own output
    names = [dom_text(n) for n in dom.getElementsByTagName("name")]
    assert names == ["car", "person", NASTY]
    xmins = [dom_text(n) for n in dom.getElementsByTagName("xmin")]
    assert xmins == ["64", "301", "0"]


def test_voc_replaces_characters_xml_cannot_hold(files: dict[str, bytes]) -> None:
    document = files["voc/Annotations/itm_shapes.xml"]
    xml.dom.minidom.parseString(document)  # noqa: S318 - would fail on a raw \x01
    assert ('line\nbreak\ufffd: "x" # 🚗', [25, 50, 75, 70]) in voc_objects(document)


def test_voc_objects_come_from_boxes_and_polygon_bounds(files: dict[str, bytes]) -> None:
    assert voc_objects(files["voc/Annotations/itm_shapes.xml"]) == [
        ("road", [10, 10, 30, 30]),
        ("road", [0, 0, 40, 30]),
        (xml_text(WEIRD), [25, 50, 75, 70]),
    ]
    assert voc_objects(files["voc/Annotations/itm_empty.xml"]) == []
    annotations = sorted(n for n in files if n.startswith("voc/Annotations/"))
    assert annotations == sorted(f"voc/Annotations/{i.item_id}.xml" for i in ITEMS)


def test_voc_labels(files: dict[str, bytes]) -> None:
    assert files["voc/labels.txt"].decode().splitlines() == [
        "car",
        "person",
        "traffic light",
        "road",
        NASTY,
        one_line(WEIRD),
    ]


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [(2.5, 10, 3), (3.49, 10, 3), (0.5, 10, 1), (-0.4, 10, 0), (10.4, 10, 10), (12.0, 10, 10)],
)
def test_voc_pixel_rounds_half_up_inside_the_image(value: float, limit: int, expected: int) -> None:
    assert pixel(value, limit) == expected


# ----- JSONL -------------------------------------------------------------------------------------

SHAPES_ADAPTER: TypeAdapter[tuple[Shape, ...]] = TypeAdapter(tuple[Shape, ...])


def jsonl_records(files: dict[str, bytes]) -> list[dict[str, Any]]:
    lines = files["jsonl/annotations.jsonl"].decode().split("\n")
    assert lines[-1] == ""
    return [json.loads(line) for line in lines[:-1]]


def test_jsonl_round_trips_every_shape(files: dict[str, bytes]) -> None:
    records = jsonl_records(files)
    assert [r["item_id"] for r in records] == [i.item_id for i in ITEMS]
    for record, item in zip(records, ITEMS, strict=True):
        assert set(record) == {
            "item_id",
            "file_name",
            "width",
            "height",
            "format",
            "ontology_version",
            "accepted_at",
            "shapes",
        }
        assert (record["file_name"], record["width"], record["height"]) == (
            item.file_name,
            item.width,
            item.height,
        )
        assert record["format"] == item.format
        assert record["ontology_version"] == item.ontology_version
        assert record["accepted_at"] == item.accepted_at
        names = [s.pop("class_name") for s in record["shapes"]]
        assert names == [CLASS_NAMES[s.class_id] for s in item.shapes]
        assert SHAPES_ADAPTER.validate_python(record["shapes"]) == item.shapes


def test_jsonl_keeps_polylines_classifications_and_attributes(files: dict[str, bytes]) -> None:
    by_id = {r["item_id"]: r for r in jsonl_records(files)}
    kinds = [s["kind"] for s in by_id["itm_shapes"]["shapes"]]
    assert kinds == ["polygon", "polygon", "polyline", "keypoints", "classification", "bbox"]
    lane = by_id["itm_shapes"]["shapes"][2]
    assert lane == {
        "class_id": 11,
        "class_name": "lane",
        "kind": "polyline",
        "attributes": {},
        "points": [[0, 50], [100, 50]],
    }
    assert by_id["itm_shapes"]["shapes"][4]["attributes"] == {"sky": "clear"}
    assert by_id["itm_street"]["shapes"][1]["attributes"] == {"occluded": True}


def test_jsonl_has_people_only_when_asked(tmp_path: Path) -> None:
    without, _ = build(tmp_path / "without", formats=("jsonl",))
    assert b"usr_annotator" not in without["jsonl/annotations.jsonl"]
    assert b"usr_reviewer" not in without["jsonl/annotations.jsonl"]
    with_people, _ = build(tmp_path / "with", formats=("jsonl",), include_people=True)
    by_id = {r["item_id"]: r for r in jsonl_records(with_people)}
    assert by_id["itm_street"]["annotator_id"] == "usr_annotator_itm_street"
    assert by_id["itm_street"]["reviewer_id"] == "usr_reviewer"
    assert by_id["itm_shapes"]["reviewer_id"] is None  # accepted without review
    assert not {"annotator_id", "reviewer_id"} & set(jsonl_records(without)[0])


def test_jsonl_only_package(tmp_path: Path) -> None:
    files, summary = build(tmp_path, formats=("jsonl",))
    assert sorted(files) == ["jsonl/annotations.jsonl", MANIFEST]
    assert summary.annotations == sum(len(i.shapes) for i in ITEMS) == 10


# ----- counts across formats ---------------------------------------------------------------------


def test_counts_across_formats(tmp_path: Path) -> None:
    _, everything = build(tmp_path / "all")
    assert (everything.images, everything.annotations) == (4, 10)
    _, coco = build(tmp_path / "coco", formats=("coco",))
    assert coco.annotations == 8  # 5 boxes, 2 polygons, 1 pose: no polyline, no classification
    _, voc = build(tmp_path / "voc", formats=("voc",))
    assert voc.annotations == 7  # 5 boxes and 2 polygons
    _, yolo = build(tmp_path / "yolo", formats=("yolo",))
    assert yolo.annotations == 7  # 5 boxes, and 2 polygons in yolo-seg


def test_same_item_twice_in_different_packages_gives_the_same_files(tmp_path: Path) -> None:
    first, _ = build(tmp_path / "a", (STREET,))
    again, _ = build(tmp_path / "b", (dataclasses.replace(STREET),))
    assert {k: v for k, v in first.items() if k != MANIFEST} == {
        k: v for k, v in again.items() if k != MANIFEST
    }


# ----- names from other tenants ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "plain",
        NASTY,
        WEIRD,
        "a: b # c",
        "- dash",
        "'single' and \\ backslash",
        "tab\tcr\rlf\nend",
        "\x00\x07\x1b\x7f\x85\xa0",
        "\u2028\u2029\ufeff",
        "日本語 🚗 ü",
        "null",
        "yes",
        "1e3",
        "",
    ],
)
def test_yaml_quoted_round_trips(name: str) -> None:
    assert yaml.safe_load(f"value: {yaml_quoted(name)}\n") == {"value": name}
    assert "\n" not in yaml_quoted(name)


def test_one_line_and_xml_text() -> None:
    assert one_line("a\nb\rc\u2028d") == "a b c d"
    assert len(one_line(WEIRD).splitlines()) == 1
    assert xml_text("ok & <fine>") == "ok & <fine>"  # ElementTree escapes these itself
    assert xml_text("a\x00b\x1fc\tüd") == "a\ufffdb\ufffdc\tüd"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.2, "0.200000"),
        (-1e-9, "0.000000"),
        (1.0, "1.000000"),
        (1 / 3, "0.333333"),
        (2 / 3, "0.666667"),
    ],
)
def test_fixed6(value: float, expected: str) -> None:
    assert fixed6(value) == expected
