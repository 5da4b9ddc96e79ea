"""CVAT for images 1.1 (services/export/formats/cvat_images.py): `cvat/annotations.xml`.

Every kind of shape is checked against the sample items of test_export_formats.py and the masks
of test_export_masks.py, number by number; the document is read back by Datumaro's own `cvat`
importer (in a virtualenv of its own) and compared with what went in.
"""

from __future__ import annotations

import dataclasses
import json
import tracemalloc
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aviary.contracts.shapes import (
    AttributeSpec,
    BoxShape,
    ClassificationShape,
    KeypointsShape,
    MaskShape,
    Ontology,
    OntologyClass,
    PolygonShape,
    PolylineShape,
    Shape,
    ShapeSource,
)
from aviary_devkit.interop import run_tool
from services.export.formats import PackageItem, PackageSpec, PackageWriter
from services.export.formats.cvat_images import PATH
from services.export.formats.model import image_file_name
from services.export.formats.text import xml_text
from shared.domain import masks
from tests.unit import test_export_masks as mask_samples
from tests.unit.test_export_formats import (
    CLASS_NAMES,
    EMPTY,
    ITEMS,
    NAMES,
    NASTY,
    ONTOLOGY,
    POSE,
    SHAPES,
    STREET,
    WEIRD,
    build,
    make_item,
)

Corners = tuple[float, float, float, float]


def cvat_root(files: dict[str, bytes]) -> ET.Element:
    return ET.fromstring(files[PATH])  # noqa: S314 - our own output


@pytest.fixture()
def root(tmp_path: Path) -> ET.Element:
    return cvat_root(build(tmp_path, formats=("cvat",))[0])


@pytest.fixture()
def mask_root(tmp_path: Path) -> ET.Element:
    files, _ = build(
        tmp_path, (mask_samples.STREET,), formats=("cvat",), ontology=mask_samples.ONTOLOGY
    )
    return cvat_root(files)


def image_of(root: ET.Element, item: PackageItem) -> ET.Element:
    [image] = [
        i for i in root.iter("image") if i.get("name") == image_file_name(item.item_id, item.format)
    ]
    return image


def corners(element: ET.Element) -> Corners:
    return tuple(float(element.attrib[k]) for k in ("xtl", "ytl", "xbr", "ybr"))  # type: ignore[return-value]


def points(element: ET.Element) -> list[tuple[float, float]]:
    return [
        (float(x), float(y))
        for x, y in (pair.split(",") for pair in element.attrib["points"].split(";"))
    ]


def attributes(element: ET.Element) -> dict[str, str]:
    return {a.attrib["name"]: a.text or "" for a in element.findall("attribute")}


def cvat_mask(element: ET.Element, height: int, width: int) -> np.ndarray:
    """A <mask> decoded by CVAT's rule, written out here on its own: runs over the box
    (left, top, width, height) row by row, the first a run of zeros."""
    runs = [int(n) for n in element.attrib["rle"].split(",")]
    left, top = int(element.attrib["left"]), int(element.attrib["top"])
    w, h = int(element.attrib["width"]), int(element.attrib["height"])
    assert sum(runs) == w * h
    crop = np.zeros(w * h, dtype=bool)
    offset = 0
    for n, run in enumerate(runs):
        crop[offset : offset + run] = n % 2 == 1
        offset += run
    canvas = np.zeros((height, width), dtype=bool)
    canvas[top : top + h, left : left + w] = crop.reshape(h, w)
    return canvas


# ----- the document ------------------------------------------------------------------------


def test_version_and_task(root: ET.Element) -> None:
    assert root.tag == "annotations"
    assert root.findtext("version") == "1.1"
    task = root.find("meta/task")
    assert task is not None
    assert task.findtext("name") == "Aviary delivery dlv_formats"
    assert task.findtext("size") == "4"
    assert task.findtext("mode") == "annotation"
    assert (task.findtext("start_frame"), task.findtext("stop_frame")) == ("0", "3")


def test_labels_are_the_ontology_in_order_with_their_types(root: ET.Element) -> None:
    labels = root.findall("meta/task/labels/label")
    assert [label.findtext("name") for label in labels] == [xml_text(n) for n in NAMES]
    types = {label.findtext("name"): label.findtext("type") for label in labels}
    assert types["car"] == "rectangle"
    assert types["road"] == "polygon"
    assert types["lane"] == "polyline"
    assert types["pose"] == "points"
    assert types["weather"] == "tag"
    assert all(label.find("color") is None for label in labels)  # Aviary has no colours


def test_label_attributes_as_cvat_writes_them(root: ET.Element) -> None:
    specs = {
        label.findtext("name"): label.findall("attributes/attribute")
        for label in root.findall("meta/task/labels/label")
    }
    [occluded] = specs["person"]
    assert occluded.findtext("name") == "occluded"
    assert occluded.findtext("input_type") == "checkbox"
    assert occluded.findtext("values") == "false"
    assert occluded.findtext("mutable") == "False"
    [sky] = specs["weather"]
    assert sky.findtext("input_type") == "select"
    assert sky.findtext("values") == "clear\nrain"  # one option a line
    assert sky.findtext("default_value") == "clear"
    assert specs["car"] == []


def test_an_image_per_item_in_order(root: ET.Element) -> None:
    images = root.findall("image")
    assert [i.attrib["id"] for i in images] == ["0", "1", "2", "3"]
    for image, item in zip(images, ITEMS, strict=True):
        assert image.attrib["name"] == image_file_name(item.item_id, item.format)
        assert (int(image.attrib["width"]), int(image.attrib["height"])) == (
            item.width,
            item.height,
        )


def test_an_image_without_shapes_is_empty(root: ET.Element) -> None:
    assert list(image_of(root, EMPTY)) == []


# ----- every kind, number by number --------------------------------------------------------


def test_boxes_are_corners_with_two_decimals(root: ET.Element) -> None:
    boxes = image_of(root, STREET).findall("box")
    got = [(b.attrib["label"], corners(b)) for b in boxes]
    assert got == [
        ("car", (64.0, 48.0, 192.0, 144.0)),  # 64 + 128, 48 + 96
        ("person", (300.5, 100.25, 320.5, 160.75)),  # 300.5 + 20, 100.25 + 60.5
        (NASTY, (0.0, 0.0, 16.0, 12.0)),
    ]
    assert boxes[1].attrib["xtl"] == "300.50" and boxes[1].attrib["ybr"] == "160.75"
    for b in boxes:
        assert (b.attrib["source"], b.attrib["z_order"]) == ("manual", "0")


def test_polygons_polylines_and_points(root: ET.Element) -> None:
    image = image_of(root, SHAPES)
    polygons = image.findall("polygon")
    assert [p.attrib["label"] for p in polygons] == ["road", "road"]
    assert points(polygons[0]) == [(10, 10), (30, 10), (30, 30), (10, 30)]
    assert points(polygons[1]) == [(0, 0), (40, 0), (0, 30)]
    assert polygons[0].attrib["points"] == "10.00,10.00;30.00,10.00;30.00,30.00;10.00,30.00"
    [lane] = image.findall("polyline")
    assert (lane.attrib["label"], points(lane)) == ("lane", [(0, 50), (100, 50)])
    [pose] = image.findall("points")
    # the keypoints placed (head, left hand hidden, hip) in skeleton order: not the right hand
    assert pose.attrib["label"] == "pose"
    assert points(pose) == [(x, y) for x, y, v in POSE.keypoints if v]
    assert points(pose) == [(50, 10), (40, 30), (55, 60)]


def test_classifications_are_tags_with_their_attributes(root: ET.Element) -> None:
    image = image_of(root, SHAPES)
    [tag] = image.findall("tag")
    assert tag.attrib == {"label": "weather", "source": "manual"}
    assert attributes(tag) == {"sky": "clear"}
    assert [child.tag for child in image][-1] == "tag"  # after the shapes, as CVAT writes them


def test_shape_attributes_and_occluded(root: ET.Element) -> None:
    car, person, _ = image_of(root, STREET).findall("box")
    assert attributes(person) == {"occluded": "true"}
    assert person.attrib["occluded"] == "1"  # the ontology's own occluded attribute
    assert attributes(car) == {} and car.attrib["occluded"] == "0"


def test_masks_decode_back_to_the_same_pixels(mask_root: ET.Element) -> None:
    image = image_of(mask_root, mask_samples.STREET)
    height, width = mask_samples.H, mask_samples.W
    road, puddle = image.findall("mask")
    assert road.attrib["label"] == "road" and puddle.attrib["label"] == "puddle"
    assert np.array_equal(cvat_mask(road, height, width), mask_samples.road_pixels())
    assert np.array_equal(cvat_mask(puddle, height, width), mask_samples.puddle_pixels())
    # the box of the puddle's pixels, [10:25, 120:150]: all set, so a run of 0 zeros first
    assert {k: puddle.attrib[k] for k in ("left", "top", "width", "height")} == {
        "left": "120",
        "top": "10",
        "width": "30",
        "height": "15",
    }
    assert puddle.attrib["rle"] == "0, 450"
    x, y, w, h = masks.bbox(mask_samples.ROAD.rle)
    assert (road.attrib["left"], road.attrib["top"]) == (str(int(x)), str(int(y)))
    assert (road.attrib["width"], road.attrib["height"]) == (str(int(w)), str(int(h)))
    assert road.attrib["rle"].split(", ")[0] != "0"  # the box's first pixel is not set


def test_source_says_what_a_model_proposed(mask_root: ET.Element) -> None:
    image = image_of(mask_root, mask_samples.STREET)
    # CAR kept as the model proposed it, ROAD proposed then edited, PUDDLE drawn by hand
    assert [e.attrib["source"] for e in image] == ["auto", "auto", "manual"]


def test_what_cvat_cannot_hold_is_not_written(tmp_path: Path) -> None:
    unplaced = KeypointsShape(class_id=12, keypoints=((0, 0, 0),) * 4)
    empty = MaskShape(class_id=4, rle=masks.encode(np.zeros((10, 10), dtype=bool)))
    ontology = Ontology(classes=(*ONTOLOGY.classes, OntologyClass(id=4, name="blob", kind="mask")))
    shapes: tuple[Shape, ...] = (
        BoxShape(class_id=99, bbox=(1, 1, 2, 2)),  # a class no longer in the ontology
        unplaced,
        empty,
        BoxShape(class_id=1, bbox=(1, 1, 2, 2)),
    )
    item = make_item("itm_leftovers", shapes, (10, 10))
    files, summary = build(tmp_path, (item,), formats=("cvat",), ontology=ontology)
    image = image_of(cvat_root(files), item)
    assert [(e.tag, e.attrib["label"]) for e in image] == [("box", "car")]
    assert summary.annotations == 1


def test_every_shape_of_the_samples_is_counted(tmp_path: Path) -> None:
    _, summary = build(tmp_path, formats=("cvat",))
    assert summary.annotations == sum(len(item.shapes) for item in ITEMS)
    assert [f.path for f in summary.files] == [PATH]


# ----- escaping ----------------------------------------------------------------------------


def test_names_are_escaped_and_read_back_as_written(root: ET.Element) -> None:
    labels = [b.attrib["label"] for b in root.iter("box")]
    assert NASTY in labels
    assert xml_text(WEIRD) in labels  # the line break kept, \x01 (not XML) replaced
    names = [label.findtext("name") for label in root.findall("meta/task/labels/label")]
    assert set(labels) <= set(names)  # every shape's label is one of <meta>'s


def test_control_characters_quotes_and_line_ends_round_trip(tmp_path: Path) -> None:
    name = "a\rb\tc\n\"d\" 'e' <&>\x00"
    value = 'line one\r\nline "two"\t<&>'
    ontology = Ontology(
        classes=(
            OntologyClass(id=1, name=name, attributes=(AttributeSpec(name=name, type="text"),)),
        )
    )
    item = make_item(
        "itm_names", (BoxShape(class_id=1, bbox=(0, 0, 1, 1), attributes={name: value}),), (4, 4)
    )
    files, _ = build(tmp_path, (item,), formats=("cvat",), ontology=ontology)
    root = cvat_root(files)
    [box] = root.iter("box")
    assert box.attrib["label"] == xml_text(name) == name[:-1] + "\ufffd"
    assert attributes(box) == {xml_text(name): value}
    assert root.findtext("meta/task/labels/label/name") == xml_text(name)
    assert root.findtext("meta/task/labels/label/attributes/attribute/name") == xml_text(name)


# ----- streaming ---------------------------------------------------------------------------


def many_items(count: int) -> Iterator[PackageItem]:
    boxes = tuple(
        BoxShape(class_id=1, bbox=(i, i, 10.5, 20.25), attributes={"n": str(i)}) for i in range(10)
    )
    for n in range(count):
        yield make_item(f"itm_{n:05d}", boxes, (640, 480))


def test_memory_stays_flat_for_ten_thousand_images(tmp_path: Path) -> None:
    spec = PackageSpec(
        delivery_id="dlv_big",
        kind="full",
        project_id="prj_1",
        batch_id="bat_1",
        ontology=ONTOLOGY,
        project_version=1,
        formats=("cvat",),
        include_images=False,
        include_people=False,
    )
    zip_path = tmp_path / "big.zip"
    tracemalloc.start()
    try:
        with PackageWriter(zip_path, tmp_path, spec) as writer:
            for item in many_items(10_000):
                writer.add(item)
            writer.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    with zipfile.ZipFile(zip_path) as zf:
        document = zf.read(PATH)
    # about 1.3 kB an image: the document is 13 MB, a fraction of which was ever held
    assert len(document) > 12_000_000
    assert peak < 6_000_000
    assert document.count(b"<image ") == 10_000


def test_a_package_given_up_leaves_no_zip(tmp_path: Path) -> None:
    spec = PackageSpec("dlv_x", "full", "prj_1", "bat_1", ONTOLOGY, 1, ("cvat",), False, False)
    zip_path = tmp_path / "gone.zip"
    with pytest.raises(RuntimeError), PackageWriter(zip_path, tmp_path, spec) as writer:
        writer.add(STREET)
        raise RuntimeError("stop")
    assert not zip_path.exists()
    assert list(tmp_path.iterdir()) == []  # the part file's folder is gone too


# ----- read back by Datumaro ---------------------------------------------------------------

READ_BACK = """
import json, sys
import numpy as np
from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset import Dataset
ds = Dataset.import_from(sys.argv[1], "cvat")
labels = ds.categories()[AnnotationType.label]
out = {}
for item in ds:
    anns = []
    for ann in item.annotations:
        entry = {"type": ann.type.name, "label": labels[ann.label].name,
                 "attributes": {k: v for k, v in ann.attributes.items()}}
        if ann.type == AnnotationType.bbox:
            entry["bbox"] = ann.get_bbox()
        elif ann.type in (AnnotationType.polygon, AnnotationType.polyline,
                          AnnotationType.points):
            entry["points"] = [float(c) for c in ann.points]
        elif ann.type == AnnotationType.mask:
            entry["shape"] = list(ann.image.shape)
            entry["pixels"] = [int(i) for i in np.flatnonzero(ann.image)]
        anns.append(entry)
    out[item.id] = {"frame": item.attributes.get("frame"), "annotations": anns,
                    "size": list(item.media.size)}
print(json.dumps(out))
"""


def read_back(python: Path, files: dict[str, bytes], folder: Path) -> dict[str, Any]:
    """Datumaro's reading of the package's CVAT folder. Datumaro looks for the images in
    `images/` beside annotations.xml (it only needs them to exist: the XML gives the size)."""
    (folder / "images").mkdir(parents=True)
    (folder / "annotations.xml").write_bytes(files[PATH])
    for image in cvat_root(files).iter("image"):
        (folder / "images" / image.attrib["name"]).write_bytes(b"")
    return dict(json.loads(run_tool(python, READ_BACK, str(folder))))


def flat(points: list[tuple[float, float]] | tuple[tuple[float, float], ...]) -> list[float]:
    return [c for point in points for c in point]


def test_datumaro_reads_every_kind(tmp_path: Path, datumaro: Path) -> None:
    files, _ = build(tmp_path, formats=("cvat",))
    got = read_back(datumaro, files, tmp_path / "cvat")
    assert sorted(got) == sorted(item.item_id for item in ITEMS)
    for frame, item in enumerate(ITEMS):
        entry = got[item.item_id]
        assert entry["frame"] == frame
        assert entry["size"] == [item.height, item.width]
        want = [s for s in item.shapes if s.kind != "classification"] + [
            s for s in item.shapes if s.kind == "classification"
        ]
        anns = entry["annotations"]
        assert len(anns) == len(want)
        for ann, shape in zip(anns, want, strict=True):
            assert ann["label"] == xml_text(CLASS_NAMES[shape.class_id])
            if isinstance(shape, BoxShape):
                assert ann["type"] == "bbox"
                assert ann["bbox"] == pytest.approx(list(shape.bbox), abs=0.006)
            elif isinstance(shape, PolygonShape):
                assert ann["type"] == "polygon"
                assert ann["points"] == pytest.approx(flat(shape.points), abs=0.006)
            elif isinstance(shape, PolylineShape):
                assert ann["type"] == "polyline"
                assert ann["points"] == pytest.approx(flat(shape.points), abs=0.006)
            elif isinstance(shape, KeypointsShape):
                assert ann["type"] == "points"
                placed = [(x, y) for x, y, v in shape.keypoints if v]
                assert ann["points"] == pytest.approx(flat(placed), abs=0.006)
            else:
                assert isinstance(shape, ClassificationShape)
                assert ann["type"] == "label"
                assert ann["attributes"] == shape.attributes
    person = got[STREET.item_id]["annotations"][1]
    assert person["attributes"]["occluded"] is True


def test_datumaro_reads_the_masks_pixel_for_pixel(tmp_path: Path, datumaro: Path) -> None:
    files, _ = build(
        tmp_path, (mask_samples.STREET,), formats=("cvat",), ontology=mask_samples.ONTOLOGY
    )
    got = read_back(datumaro, files, tmp_path / "cvat")
    anns = got[mask_samples.STREET.item_id]["annotations"]
    assert [(a["type"], a["label"]) for a in anns] == [
        ("bbox", "car"),
        ("mask", "road"),
        ("mask", "puddle"),
    ]
    assert anns[0]["bbox"] == pytest.approx([10, 10, 30, 20])
    for ann, pixels in zip(
        anns[1:], (mask_samples.road_pixels(), mask_samples.puddle_pixels()), strict=True
    ):
        assert ann["shape"] == [mask_samples.H, mask_samples.W]
        assert ann["pixels"] == np.flatnonzero(pixels).tolist()


def test_datumaro_reads_a_model_proposed_mask_given_as_a_list(
    tmp_path: Path, datumaro: Path
) -> None:
    """COCO's uncompressed counts, a mask touching the image's corner, and a model's source."""
    pixels = np.zeros((mask_samples.H, mask_samples.W), dtype=bool)
    pixels[0:3, 0:2] = True
    pixels[mask_samples.H - 1, mask_samples.W - 1] = True
    shape = MaskShape(
        class_id=6,
        rle=masks.encode_uncompressed(pixels),
        source=ShapeSource(by="model", model="segmenter@2", confidence=0.5),
    )
    item = dataclasses.replace(mask_samples.STREET, item_id="itm_corner", shapes=(shape,))
    files, _ = build(tmp_path, (item,), formats=("cvat",), ontology=mask_samples.ONTOLOGY)
    [mask] = cvat_root(files).iter("mask")
    assert mask.attrib["source"] == "auto"
    assert np.array_equal(cvat_mask(mask, mask_samples.H, mask_samples.W), pixels)
    [ann] = read_back(datumaro, files, tmp_path / "cvat")["itm_corner"]["annotations"]
    assert ann["pixels"] == np.flatnonzero(pixels).tolist()
