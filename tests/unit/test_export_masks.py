"""Unit tests for masks and provenance in delivery packages (services/export/formats): a mask
through COCO (read back with pycocotools, pixel for pixel), YOLO segmentation and VOC; sources in
JSONL; the models that made the delivery's shapes in the manifest.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from aviary.contracts.shapes import (
    BoxShape,
    MaskShape,
    Ontology,
    OntologyClass,
    PolygonShape,
    Rle,
    ShapeSource,
)
from services.export.formats import MANIFEST, PackageItem, PackageSummary
from services.export.formats.yolo import MASK_TOLERANCE
from shared.domain import masks
from tests.unit.test_export_formats import build, make_item

W, H = 160, 120
ONTOLOGY = Ontology(
    classes=(
        OntologyClass(id=1, name="car"),  # YOLO index 0
        OntologyClass(id=4, name="road", kind="mask"),  # 1
        OntologyClass(id=6, name="puddle", kind="mask"),  # 2
    )
)
KEPT = ShapeSource(by="model", model="segmenter@2", confidence=0.91)
EDITED = ShapeSource(by="model_edited", model="segmenter@2", confidence=0.55)
DETECTED = ShapeSource(by="model", model="endpoint:acme", confidence=0.7)


def road_pixels() -> np.ndarray:
    """A filled ellipse with a hole, touching the bottom edge: not a box, not convex."""
    canvas = np.zeros((H, W), dtype=np.uint8)
    cv2.ellipse(canvas, (80, 100), (60, 30), 10, 0, 360, 1, -1)
    canvas[95:102, 70:90] = 0
    return canvas.astype(bool)


def puddle_pixels() -> np.ndarray:
    pixels = np.zeros((H, W), dtype=bool)
    pixels[10:25, 120:150] = True
    return pixels


ROAD = MaskShape(class_id=4, rle=masks.encode(road_pixels()), source=EDITED)
# the same kind of object given as COCO's uncompressed counts, drawn by hand
PUDDLE = MaskShape(class_id=6, rle=masks.encode_uncompressed(puddle_pixels()))
CAR = BoxShape(class_id=1, bbox=(10, 10, 30, 20), source=KEPT)
STREET = make_item("itm_masks", (CAR, ROAD, PUDDLE), (W, H))


def package(
    tmp_path: Path, *items: PackageItem, formats: tuple[str, ...] = ("coco", "yolo", "voc", "jsonl")
) -> tuple[dict[str, bytes], PackageSummary]:
    return build(tmp_path, items or (STREET,), formats=formats, ontology=ONTOLOGY)


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, bytes]:
    return package(tmp_path)[0]


# ----- COCO --------------------------------------------------------------------------------------


def coco_of(files: dict[str, bytes], tmp_path: Path) -> COCO:
    path = tmp_path / "annotations.json"
    path.write_bytes(files["coco/annotations.json"])
    return COCO(str(path))


def test_coco_mask_classes_are_categories(files: dict[str, bytes], tmp_path: Path) -> None:
    coco = coco_of(files, tmp_path)
    assert sorted(coco.getCatIds()) == [1, 4, 6]


def test_coco_masks_round_trip_pixel_for_pixel(files: dict[str, bytes], tmp_path: Path) -> None:
    coco = coco_of(files, tmp_path)
    anns = {a["category_id"]: a for a in coco.loadAnns(coco.getAnnIds())}
    for class_id, pixels in ((4, road_pixels()), (6, puddle_pixels())):
        ann = anns[class_id]
        assert ann["iscrowd"] == 0
        segmentation = ann["segmentation"]
        assert set(segmentation) == {"size", "counts"}
        assert segmentation["size"] == [H, W]
        assert isinstance(segmentation["counts"], str)  # compressed, even for PUDDLE's list
        assert (coco.annToMask(ann) == pixels).all()
        assert ann["area"] == int(pixels.sum()) == int(coco_mask.area(coco.annToRLE(ann)))
        assert ann["bbox"] == list(coco_mask.toBbox(coco.annToRLE(ann)))
    assert anns[6]["bbox"] == [120, 10, 30, 15]
    assert anns[1]["bbox"] == [10, 10, 30, 20]


def test_coco_counts_only_masks_it_writes(tmp_path: Path) -> None:
    _, summary = package(tmp_path, formats=("coco",))
    assert summary.annotations == 3


# ----- YOLO segmentation -------------------------------------------------------------------------


def parse_line(line: str) -> tuple[int, list[tuple[float, float]]]:
    index, *numbers = line.split()
    coords = [float(n) for n in numbers]
    assert len(coords) % 2 == 0 and all(0 <= c <= 1 for c in coords)
    return int(index), [(x * W, y * H) for x, y in zip(coords[::2], coords[1::2], strict=True)]


def test_yolo_segmentation_writes_a_masks_outline(files: dict[str, bytes]) -> None:
    lines = files["yolo-seg/labels/itm_masks.txt"].decode().splitlines()
    assert [int(line.split()[0]) for line in lines] == [1, 2]  # road, puddle: no box here
    for line, shape, pixels in zip(
        lines, (ROAD, PUDDLE), (road_pixels(), puddle_pixels()), strict=True
    ):
        _, points = parse_line(line)
        expected = masks.rle_to_polygon(shape.rle, MASK_TOLERANCE)
        assert expected is not None
        flat = [c for point in expected for c in point]
        assert [c for point in points for c in point] == pytest.approx(flat, abs=1e-3)
        filled = masks.encode(masks.polygon_to_mask(points, H, W))
        outer = masks.encode(
            cv2.morphologyEx(pixels.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((9, 9))).astype(bool)
        )
        assert masks.mask_iou(filled, outer) > 0.95  # the outline has no hole
    # the puddle, pixels 120..149 by 10..24: through their corner pixels' centres, over 160x120
    assert lines[1] == "2 0.753125 0.087500 0.753125 0.204167 0.934375 0.204167 0.934375 0.087500"
    assert files["yolo/labels/itm_masks.txt"].decode().splitlines() == [
        "0 0.156250 0.166667 0.187500 0.166667"  # only the box
    ]


def test_yolo_segmentation_exists_for_mask_classes_alone(files: dict[str, bytes]) -> None:
    assert not any(c.kind == "polygon" for c in ONTOLOGY.classes)
    assert files["yolo-seg/classes.txt"] == b"car\nroad\npuddle\n"


# ----- VOC ---------------------------------------------------------------------------------------


def test_voc_writes_a_masks_box(files: dict[str, bytes]) -> None:
    root = ET.fromstring(files["voc/Annotations/itm_masks.xml"])  # noqa: S314 - our own output
    objects = {
        o.findtext("name"): [
            int(o.findtext(f"bndbox/{k}") or "") for k in ("xmin", "ymin", "xmax", "ymax")
        ]
        for o in root.findall("object")
    }
    x, y, w, h = (int(v) for v in masks.bbox(ROAD.rle))
    assert objects == {
        "car": [10, 10, 40, 30],
        "road": [x, y, x + w, y + h],
        "puddle": [120, 10, 150, 25],  # pixels 120..149 and 10..24: their edges
    }
    assert y + h == H  # the road touches the bottom edge, and the box stays inside
    assert files["voc/labels.txt"] == b"car\nroad\npuddle\n"


# ----- JSONL and the manifest --------------------------------------------------------------------


def test_jsonl_keeps_masks_as_they_came_with_their_source(files: dict[str, bytes]) -> None:
    [record] = [json.loads(line) for line in files["jsonl/annotations.jsonl"].splitlines()]
    car, road, puddle = record["shapes"]
    assert car["source"] == {"by": "model", "model": "segmenter@2", "confidence": 0.91}
    assert road["source"] == {"by": "model_edited", "model": "segmenter@2", "confidence": 0.55}
    assert "source" not in puddle  # drawn by hand
    assert road["rle"] == {"size": [H, W], "counts": ROAD.rle.counts}
    assert puddle["rle"]["counts"] == list(PUDDLE.rle.counts)  # the list form, as given
    assert road.pop("class_name") == "road"
    assert MaskShape.model_validate(road) == ROAD
    assert (masks.decode(Rle.model_validate(puddle["rle"])) == puddle_pixels()).all()


def test_manifest_lists_the_models_and_how_many_shapes_each_kept_or_had_edited(
    tmp_path: Path,
) -> None:
    other = make_item(
        "itm_more",
        (
            BoxShape(class_id=1, bbox=(0, 0, 5, 5), source=DETECTED),
            BoxShape(class_id=1, bbox=(5, 5, 5, 5), source=KEPT),
            BoxShape(class_id=1, bbox=(9, 9, 5, 5), source=EDITED),
            BoxShape(class_id=1, bbox=(20, 20, 5, 5), source=ShapeSource()),  # by hand
        ),
        (W, H),
    )
    files, _ = package(tmp_path, STREET, other, formats=("yolo",))
    manifest = json.loads(files[MANIFEST])
    assert manifest["models"] == {
        "endpoint:acme": {"kept": 1, "edited": 0},
        "segmenter@2": {"kept": 2, "edited": 2},  # CAR and ROAD, and two in itm_more
    }


# ----- what every format relies on ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        (masks.encode(np.ones((W, H), dtype=bool)), "not of the image's 120x160"),
        (Rle(size=(H, W), counts=(5, 5)), "cover 10 pixels"),
    ],
)
def test_a_mask_that_is_not_of_its_image_stops_the_package(
    tmp_path: Path, rle: Rle, message: str
) -> None:
    item = make_item("itm_bad", (MaskShape(class_id=4, rle=rle),), (W, H))
    with pytest.raises(ValueError, match=message):
        package(tmp_path, item)
    assert not (tmp_path / "delivery.zip").exists()


def test_polygon_and_mask_classes_side_by_side(tmp_path: Path) -> None:
    ontology = Ontology(
        classes=(*ONTOLOGY.classes, OntologyClass(id=9, name="lot", kind="polygon"))
    )
    lot = PolygonShape(class_id=9, points=((0, 0), (20, 0), (20, 20)))
    item = make_item("itm_both", (lot, PUDDLE), (W, H))
    files, _ = build(tmp_path, (item,), formats=("yolo",), ontology=ontology)
    lines = files["yolo-seg/labels/itm_both.txt"].decode().splitlines()
    assert [line.split()[0] for line in lines] == ["3", "2"]
