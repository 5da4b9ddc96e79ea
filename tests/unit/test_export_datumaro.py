"""Datumaro JSON in delivery packages (services/export/formats/datumaro.py): every shape kind,
masks and provenance, escaping, empty images, and the package read back by Datumaro's own
`datumaro` importer (in a virtualenv of its own), shape by shape.

The sample items are those of test_export_formats.py and test_export_masks.py; expected values
are worked out by hand next to them.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import cv2
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
    Rle,
    Shape,
    ShapeSource,
)
from aviary_devkit.interop import run_tool
from services.export.formats import PackageItem, PackageSpec, PackageWriter, image_file_name
from services.export.formats.datumaro import PATH, DatumaroFormat
from services.export.formats.zipsink import ZipSink
from shared.domain import masks
from tests.unit import test_export_masks as with_masks
from tests.unit.test_export_formats import (
    CLASSES,
    EMPTY,
    ITEMS,
    NASTY,
    ONTOLOGY,
    ROTATED,
    SHAPES,
    STREET,
    WEIRD,
    build,
    make_item,
)

LABEL_ID = {c.id: i for i, c in enumerate(CLASSES)}  # a label's id: its ontology position


def document(files: dict[str, bytes]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(files[PATH])
    return parsed


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, bytes]:
    return build(tmp_path, formats=("datumaro",))[0]


@pytest.fixture()
def doc(files: dict[str, bytes]) -> dict[str, Any]:
    return document(files)


def item_of(doc: dict[str, Any], item: PackageItem) -> dict[str, Any]:
    [entry] = [i for i in doc["items"] if i["id"] == item.item_id]
    found: dict[str, Any] = entry
    return found


# ----- the document ------------------------------------------------------------------------


def test_head_says_the_version_first_and_the_package(files: dict[str, bytes]) -> None:
    # Datumaro finds the version with a regular expression in the first kilobyte.
    assert files[PATH].startswith(b'{"dm_format_version":"1.0","media_type":2,"infos":{')
    doc = document(files)
    assert list(doc) == ["dm_format_version", "media_type", "infos", "categories", "items"]
    assert doc["infos"]["delivery_id"] == "dlv_formats"
    assert doc["infos"]["project_version"] == 2
    assert files[PATH].isascii()  # names are \u-escaped: any JSON reader takes them


def test_labels_are_every_class_in_ontology_order(doc: dict[str, Any]) -> None:
    label = doc["categories"]["label"]
    assert [entry["name"] for entry in label["labels"]] == [c.name for c in CLASSES]
    assert label["labels"][7]["name"] == NASTY and label["labels"][8]["name"] == WEIRD
    assert all(entry["parent"] == "" for entry in label["labels"])
    attributes = {entry["name"]: entry["attributes"] for entry in label["labels"]}
    assert attributes["person"] == ["occluded"] and attributes["weather"] == ["sky"]
    assert attributes["car"] == []
    assert label["label_groups"] == []
    assert label["attributes"] == []  # no shape here has a recorded source


def test_keypoint_classes_have_a_points_category(doc: dict[str, Any]) -> None:
    assert doc["categories"]["points"] == {
        "items": [
            {
                "label_id": 5,  # pose, the sixth class
                "labels": ["head", "left_hand", "right_hand", "hip"],
                "joints": [[1, 2], [1, 3], [1, 4]],  # 1-based, as COCO's skeleton
                "positions": [],
            }
        ]
    }
    assert "mask" not in doc["categories"]


def test_items_are_the_images_in_order_with_their_size(doc: dict[str, Any]) -> None:
    assert [i["id"] for i in doc["items"]] == [i.item_id for i in ITEMS]
    # size is (height, width), the displayed one: ROTATED is shown 480 wide, 640 high
    assert [i["image"] for i in doc["items"]] == [
        {"path": "itm_street.jpg", "size": [480, 640]},
        {"path": "itm_rotated.jpg", "size": [640, 480]},
        {"path": "itm_shapes.png", "size": [100, 100]},
        {"path": "itm_empty.webp", "size": [600, 800]},
    ]
    assert item_of(doc, STREET)["attr"] == {
        "original_file_name": "client itm_street.jpeg",
        "ontology_version": 2,
        "accepted_at": "2024-05-01T12:00:00+00:00",
    }


def test_an_image_without_shapes_is_an_item_without_annotations(doc: dict[str, Any]) -> None:
    assert item_of(doc, EMPTY)["annotations"] == []


def test_boxes(doc: dict[str, Any]) -> None:
    anns = item_of(doc, STREET)["annotations"]
    assert [(a["type"], a["label_id"], a["bbox"], a["attributes"]) for a in anns] == [
        ("bbox", 0, [64, 48, 128, 96], {}),
        ("bbox", 1, [300.5, 100.25, 20, 60.5], {"occluded": True}),
        ("bbox", 7, [0, 0, 16, 12], {}),
    ]
    assert all(a["group"] == 0 and a["z_order"] == 0 for a in anns)


def test_polygons_polylines_keypoints_and_classifications(doc: dict[str, Any]) -> None:
    square, triangle, lane, pose, sky, weird = item_of(doc, SHAPES)["annotations"]
    assert (square["type"], square["label_id"]) == ("polygon", 3)
    assert square["points"] == [10, 10, 30, 10, 30, 30, 10, 30]
    assert triangle["points"] == [0, 0, 40, 0, 0, 30]
    assert (lane["type"], lane["label_id"], lane["points"]) == ("polyline", 4, [0, 50, 100, 50])
    assert (pose["type"], pose["label_id"]) == ("points", 5)
    # x, y of each keypoint, the unlabeled third at 0, 0; visibility as COCO's
    assert pose["points"] == [50, 10, 40, 30, 0, 0, 55, 60]
    assert pose["visibility"] == [2, 1, 0, 2]
    assert sky == {
        "id": 9,
        "type": "label",
        "attributes": {"sky": "clear"},
        "group": 0,
        "label_id": 6,  # no z_order: Datumaro's labels have none
    }
    assert (weird["type"], weird["label_id"], weird["bbox"]) == ("bbox", 8, [25, 50, 50, 20])


def test_annotation_ids_are_unique_across_the_package(doc: dict[str, Any]) -> None:
    ids = [a["id"] for item in doc["items"] for a in item["annotations"]]
    assert ids == list(range(1, 11))


def test_every_shape_of_the_sample_is_written(tmp_path: Path) -> None:
    _, summary = build(tmp_path, formats=("datumaro",))
    assert summary.annotations == sum(len(i.shapes) for i in ITEMS) == 10


def test_unknown_classes_and_foreign_skeletons_are_left_out(tmp_path: Path) -> None:
    odd = make_item(
        "itm_odd",
        (
            BoxShape(class_id=99, bbox=(1, 1, 2, 2)),  # the class is gone from the ontology
            KeypointsShape(class_id=12, keypoints=((1, 1, 2), (2, 2, 2))),  # 2 of 4 keypoints
            BoxShape(class_id=1, bbox=(3, 3, 4, 4)),
        ),
        (100, 100),
    )
    files, summary = build(tmp_path, (odd,), formats=("datumaro",))
    [item] = document(files)["items"]
    assert [(a["label_id"], a["bbox"]) for a in item["annotations"]] == [(0, [3, 3, 4, 4])]
    assert summary.annotations == 1


# ----- masks and provenance ----------------------------------------------------------------


@pytest.fixture()
def mask_doc(tmp_path: Path) -> dict[str, Any]:
    return document(with_masks.package(tmp_path, formats=("datumaro",))[0])


def test_masks_are_compressed_rle_of_the_whole_image(mask_doc: dict[str, Any]) -> None:
    car, road, puddle = mask_doc["items"][0]["annotations"]
    assert (car["type"], road["type"], puddle["type"]) == ("bbox", "mask", "mask")
    assert (road["label_id"], puddle["label_id"]) == (1, 2)
    for ann, pixels in ((road, with_masks.road_pixels()), (puddle, with_masks.puddle_pixels())):
        assert set(ann["rle"]) == {"counts", "size"}
        assert ann["rle"]["size"] == [with_masks.H, with_masks.W]
        assert isinstance(ann["rle"]["counts"], str)  # compressed, even PUDDLE's list
        assert (masks.decode(Rle.model_validate(ann["rle"])) == pixels).all()
        assert ann["z_order"] == 0
    assert road["rle"]["counts"] == with_masks.ROAD.rle.counts


def test_provenance_is_in_the_attributes(mask_doc: dict[str, Any]) -> None:
    car, road, puddle = mask_doc["items"][0]["annotations"]
    assert car["attributes"] == {"source": "model", "model": "segmenter@2", "score": 0.91}
    assert road["attributes"] == {"source": "model_edited", "model": "segmenter@2", "score": 0.55}
    assert puddle["attributes"] == {}  # drawn by hand
    assert mask_doc["categories"]["label"]["attributes"] == ["model", "score", "source"]


def test_a_shape_attribute_keeps_its_name_before_provenance(tmp_path: Path) -> None:
    ontology = Ontology(classes=(OntologyClass(id=1, name="car"),))
    shapes: tuple[Shape, ...] = (
        BoxShape(
            class_id=1,
            bbox=(1, 2, 3, 4),
            attributes={"score": "high", "colour": "red"},
            source=ShapeSource(by="model", model="det@1", confidence=0.5),
        ),
        BoxShape(class_id=1, bbox=(5, 6, 7, 8), source=ShapeSource()),  # by hand, recorded
    )
    item = make_item("itm_a", shapes, (20, 20))
    files, _ = build(tmp_path, (item,), formats=("datumaro",), ontology=ontology)
    doc = document(files)
    first, second = doc["items"][0]["annotations"]
    assert first["attributes"] == {
        "score": "high",
        "colour": "red",
        "source": "model",
        "model": "det@1",
        "aviary_score": 0.5,
    }
    assert second["attributes"] == {"source": "human"}
    assert doc["categories"]["label"]["attributes"] == ["aviary_score", "model", "source"]


def test_an_empty_mask_is_still_a_mask(tmp_path: Path) -> None:
    empty = MaskShape(class_id=4, rle=masks.encode(np.zeros((with_masks.H, with_masks.W), bool)))
    item = make_item("itm_blank", (empty,), (with_masks.W, with_masks.H))
    files, summary = with_masks.package(tmp_path, item, formats=("datumaro",))
    [ann] = document(files)["items"][0]["annotations"]
    assert masks.area(Rle.model_validate(ann["rle"])) == 0
    assert summary.annotations == 1


# ----- streaming ---------------------------------------------------------------------------


def spec(ontology: Ontology = ONTOLOGY, include_images: bool = False) -> PackageSpec:
    return PackageSpec(
        delivery_id="dlv_datumaro",
        kind="full",
        project_id="prj_1",
        batch_id="bat_1",
        ontology=ontology,
        project_version=1,
        formats=("datumaro",),
        include_images=include_images,
        include_people=False,
    )


def test_items_go_to_the_part_file_as_they_come(tmp_path: Path) -> None:
    sink = ZipSink(tmp_path / "out.zip")
    writer = DatumaroFormat(sink, tmp_path, spec())
    for item in ITEMS:
        writer.add(item, f"{item.item_id}.jpg")
    writer.abort()  # closes the part file, flushing what the buffer held
    sink.close()
    [part] = tmp_path.glob("*.part")
    entries = json.loads("[" + part.read_text() + "]")
    assert [e["id"] for e in entries] == [i.item_id for i in ITEMS]


def write_many(folder: Path, count: int) -> tuple[int, int]:
    """Peak memory traced while writing `count` images, and the document's size."""
    folder.mkdir()
    shapes = STREET.shapes + SHAPES.shapes
    items = [make_item(f"itm_{n:05d}", shapes, (640, 480)) for n in range(count)]
    tracemalloc.start()
    try:
        with PackageWriter(folder / "big.zip", folder, spec()) as writer:
            for item in items:
                writer.add(item)
            writer.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    with zipfile.ZipFile(folder / "big.zip") as zf:
        return peak, zf.getinfo(PATH).file_size


def test_memory_stays_flat_however_many_images(tmp_path: Path) -> None:
    # Both documents are larger than the chunks (1 MiB) the zip is copied in.
    small_peak, small_size = write_many(tmp_path / "small", 1000)
    big_peak, big_size = write_many(tmp_path / "big", 3000)
    assert small_size > 1 << 20 and big_size - small_size > 2_000_000  # 1.2 kB an image
    # What grows is the writer's set of item ids, not the document.
    assert big_peak - small_peak < (big_size - small_size) / 10


# ----- read back by Datumaro -----------------------------------------------------------------

READ_BACK = """
import json, sys
import numpy as np
import pycocotools.mask as mask_utils
from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset import Dataset
from datumaro.components.environment import Environment
ds = Dataset.import_from(sys.argv[1], sys.argv[2])
categories = ds.categories()
labels = categories[AnnotationType.label]
points = categories.get(AnnotationType.points)
out = {
    "labels": [[label.name, sorted(label.attributes)] for label in labels],
    "points": {
        str(i): [c.labels, sorted(map(list, c.joints))] for i, c in points.items.items()
    } if points else {},
    "items": [],
    "detected": Environment().detect_dataset(sys.argv[1]),
}
for item in sorted(ds, key=lambda i: i.id):
    media = item.media
    anns = []
    for ann in item.annotations:
        a = {"type": ann.type.name, "id": ann.id, "group": ann.group,
             "attributes": ann.attributes,
             "label": labels[ann.label].name if ann.label is not None else None}
        if ann.type == AnnotationType.bbox:
            a["bbox"] = [float(v) for v in ann.get_bbox()]
        elif ann.type in (AnnotationType.polygon, AnnotationType.polyline):
            a["points"] = [float(v) for v in ann.points]
        elif ann.type == AnnotationType.points:
            a["points"] = [float(v) for v in ann.points]
            a["visibility"] = [int(v) for v in ann.visibility]
        elif ann.type == AnnotationType.mask:
            pixels = np.asfortranarray(ann.image.astype(np.uint8))
            rle = mask_utils.encode(pixels)
            a["rle"] = {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode()}
        anns.append(a)
    out["items"].append({
        "id": item.id,
        "attributes": item.attributes,
        "path": getattr(media, "path", None),
        "size": list(media.size) if media is not None and media.size else None,
        "annotations": anns,
    })
print(json.dumps(out))
"""


def read_back(python: Path, path: Path, fmt: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(run_tool(python, READ_BACK, str(path), fmt))
    return parsed


def unzip(files: dict[str, bytes], root: Path) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def expected(shape: Shape) -> dict[str, Any]:
    """What Datumaro should make of a shape: its type and geometry."""
    if isinstance(shape, BoxShape):
        return {"type": "bbox", "bbox": list(shape.bbox)}
    if isinstance(shape, PolygonShape | PolylineShape):
        kind = "polygon" if isinstance(shape, PolygonShape) else "polyline"
        return {"type": kind, "points": [c for p in shape.points for c in p]}
    if isinstance(shape, KeypointsShape):
        return {
            "type": "points",
            "points": [c for x, y, _ in shape.keypoints for c in (x, y)],
            "visibility": [v for _, _, v in shape.keypoints],
        }
    if isinstance(shape, MaskShape):
        return {"type": "mask", "rle": masks.compressed(shape.rle)}
    return {"type": "label"}


def check_shape_by_shape(
    got: dict[str, Any], items: tuple[PackageItem, ...], names: dict[int, str]
) -> None:
    by_id = {i["id"]: i for i in got["items"]}
    assert sorted(by_id) == sorted(i.item_id for i in items)
    for item in items:
        read = by_id[item.item_id]
        assert read["size"] == [item.height, item.width]
        assert len(read["annotations"]) == len(item.shapes)
        for ann, shape in zip(read["annotations"], item.shapes, strict=True):
            want = expected(shape)
            assert ann["type"] == want["type"]
            assert ann["label"] == names[shape.class_id]
            assert ann["group"] == 0
            for key in ("bbox", "points", "visibility"):
                if key in want:
                    assert ann[key] == pytest.approx(want[key])
            if "rle" in want:
                pixels = masks.decode(Rle.model_validate(ann["rle"]))
                assert (pixels == masks.decode(want["rle"])).all()
            attributes: dict[str, Any] = dict(shape.attributes)
            if shape.source is not None:
                source = shape.source
                attributes |= {
                    "source": source.by,
                    "model": source.model,
                    "score": source.confidence,
                }
            assert ann["attributes"] == {k: v for k, v in attributes.items() if v is not None}


def test_datumaro_reads_every_shape_back(tmp_path: Path, datumaro: Path) -> None:
    files, _ = build(tmp_path, formats=("datumaro",))
    got = read_back(datumaro, unzip(files, tmp_path / "out") / "datumaro", "datumaro")
    assert got["labels"] == [
        [c.name, sorted(a.name for a in c.attributes)] for c in CLASSES
    ]  # NASTY and WEIRD exactly, line break, quotes and emoji
    assert got["points"] == {
        "5": [["head", "left_hand", "right_hand", "hip"], [[1, 2], [1, 3], [1, 4]]]
    }
    check_shape_by_shape(got, ITEMS, {c.id: c.name for c in CLASSES})
    assert got["detected"] == ["datumaro"]  # what Datumaro guesses the folder is
    street = next(i for i in got["items"] if i["id"] == STREET.item_id)
    assert street["attributes"]["original_file_name"] == "client itm_street.jpeg"
    assert [i["annotations"] for i in got["items"] if i["id"] == EMPTY.item_id] == [[]]
    assert next(i for i in got["items"] if i["id"] == ROTATED.item_id)["size"] == [640, 480]


def test_datumaro_reads_masks_pixel_for_pixel_with_provenance(
    tmp_path: Path, datumaro: Path
) -> None:
    files, _ = with_masks.package(tmp_path, formats=("datumaro",))
    got = read_back(datumaro, unzip(files, tmp_path / "out") / "datumaro", "datumaro")
    names = {c.id: c.name for c in with_masks.ONTOLOGY.classes}
    check_shape_by_shape(got, (with_masks.STREET,), names)
    road = got["items"][0]["annotations"][1]
    assert (masks.decode(Rle.model_validate(road["rle"])) == with_masks.road_pixels()).all()
    assert road["attributes"]["score"] == 0.55


def with_image(item: PackageItem) -> PackageItem:
    """The item with an image of its size, in its format (jpeg or png), as ingest keeps it."""
    pixels = np.full((item.height, item.width, 3), 128, np.uint8)
    ok, encoded = cv2.imencode(".jpg" if item.format == "jpeg" else ".png", pixels)
    assert ok and item.format in ("jpeg", "png")
    return dataclasses.replace(item, image_bytes=encoded.tobytes())


def test_datumaro_finds_the_images_moved_under_its_folder(tmp_path: Path, datumaro: Path) -> None:
    items = (with_image(SHAPES), with_image(STREET))  # in id order, as Datumaro lists them
    zip_path = tmp_path / "delivery.zip"
    with PackageWriter(zip_path, tmp_path, spec(include_images=True)) as writer:
        for item in items:
            writer.add(item)
        writer.close()
    root = tmp_path / "out"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root)
    shutil.move(root / "images", root / "datumaro" / "images")  # as the format's doc says
    got = read_back(datumaro, root / "datumaro", "datumaro")
    for read, item in zip(got["items"], items, strict=True):
        path = root / "datumaro" / "images" / image_file_name(item.item_id, item.format)
        assert read["path"] == str(path) and path.is_file()
        assert read["size"] == [item.height, item.width]
