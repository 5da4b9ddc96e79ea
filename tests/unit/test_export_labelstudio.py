"""Label Studio JSON export (services/export/formats/labelstudio.py): every kind's result in
percent of the displayed size, the labeling config's names against the results', nasty class
names, masks in Label Studio's brush RLE (read back with a decoder written here from the
rle-pack format), provenance, what is left out, and the manifest.

Expected values are worked out by hand in the comments next to them.
"""

from __future__ import annotations

import hashlib
import json
import xml.dom.minidom
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aviary.contracts.shapes import (
    BoxShape,
    ClassificationShape,
    KeypointsShape,
    MaskShape,
    Ontology,
    OntologyClass,
    PolygonShape,
    Rle,
)
from services.export.formats import MANIFEST, PackageSummary
from services.export.formats.labelstudio import CONFIG, KEYPOINT_WIDTH, TASKS, brush_rle
from services.export.formats.text import xml_text
from tests.unit import test_export_masks as masks_sample
from tests.unit.test_export_formats import (
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

LS = ("labelstudio",)


def tasks_of(files: dict[str, bytes]) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = json.loads(files[TASKS])
    return tasks


def results_of(files: dict[str, bytes], item_id: str) -> list[dict[str, Any]]:
    [task] = [t for t in tasks_of(files) if t["meta"]["aviary_item_id"] == item_id]
    [annotation] = task["annotations"]
    results: list[dict[str, Any]] = annotation["result"]
    return results


def regions(results: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in results if r["type"] == kind]


def controls(config: bytes) -> dict[str, tuple[str, str, list[str]]]:
    """name -> (tag, toName, label or choice values) for every control of the config."""
    root = ET.fromstring(config)  # noqa: S314 - our own output
    out = {}
    for element in root.iter():
        name = element.get("name")
        if name is None or element.tag == "Image":
            continue
        values = [child.get("value") or "" for child in element if child.tag in ("Label", "Choice")]
        out[name] = (element.tag, element.get("toName") or "", values)
    return out


@pytest.fixture()
def package(tmp_path: Path) -> tuple[dict[str, bytes], PackageSummary]:
    return build(tmp_path, formats=LS)


@pytest.fixture()
def files(package: tuple[dict[str, bytes], PackageSummary]) -> dict[str, bytes]:
    return package[0]


# ----- the tasks -------------------------------------------------------------------------------


def test_one_task_per_image_in_delivery_order(files: dict[str, bytes]) -> None:
    tasks = tasks_of(files)
    assert [t["id"] for t in tasks] == [1, 2, 3, 4]
    assert [t["data"] for t in tasks] == [
        {"image": "images/itm_street.jpg"},
        {"image": "images/itm_rotated.jpg"},
        {"image": "images/itm_shapes.png"},
        {"image": "images/itm_empty.webp"},
    ]
    for task, item in zip(tasks, ITEMS, strict=True):
        assert task["meta"] == {
            "aviary_item_id": item.item_id,
            "original_file_name": item.file_name,
        }
        [annotation] = task["annotations"]
        assert annotation["ground_truth"] is False
        assert annotation["was_cancelled"] is False
        for result in annotation["result"]:
            if result["type"] == "relation":
                continue
            assert result["to_name"] == "image"
            assert (result["original_width"], result["original_height"]) == (
                item.width,
                item.height,
            )
            assert result["image_rotation"] == 0


def test_the_tasks_file_is_one_task_a_line(files: dict[str, bytes]) -> None:
    lines = files[TASKS].decode().split("\n")
    assert lines[0] == "[" and lines[-2:] == ["]", ""]
    assert len(lines) == 4 + 3


def test_an_empty_image_has_an_empty_annotation(files: dict[str, bytes]) -> None:
    assert results_of(files, EMPTY.item_id) == []


def test_an_empty_package(tmp_path: Path) -> None:
    files, summary = build(tmp_path, (), formats=LS)
    assert json.loads(files[TASKS]) == []
    assert summary.images == 0


def test_boxes_are_percent_of_the_displayed_size(files: dict[str, bytes]) -> None:
    boxes = regions(results_of(files, STREET.item_id), "rectanglelabels")
    assert [(b["id"], b["from_name"], b["origin"]) for b in boxes] == [
        ("s0", "box", "manual"),
        ("s1", "box", "manual"),
        ("s2", "box", "manual"),
    ]
    values = [b["value"] for b in boxes]
    # car (64, 48, 128, 96) in 640x480: 10 % of each side, a fifth of it in size
    assert values[0] == {
        "x": 10.0,
        "y": 10.0,
        "width": 20.0,
        "height": 20.0,
        "rotation": 0,
        "rectanglelabels": ["car"],
    }
    # person (300.5, 100.25, 20, 60.5): 300.5 / 640 = 46.953125 %, 100.25 / 480 = 20.8854 %,
    # 20 / 640 = 3.125 %, 60.5 / 480 = 12.6042 %
    person = values[1]
    assert [person[k] for k in ("x", "y", "width", "height")] == pytest.approx(
        [46.953125, 20.885416667, 3.125, 12.604166667]
    )
    assert person["rectanglelabels"] == ["person"]
    assert values[2]["rectanglelabels"] == [NASTY]  # (0, 0, 16, 12): 2.5 % by 2.5 %
    assert [values[2][k] for k in ("x", "y", "width", "height")] == [0, 0, 2.5, 2.5]


def test_a_rotated_image_uses_its_displayed_size(files: dict[str, bytes]) -> None:
    [box] = results_of(files, ROTATED.item_id)
    # (48, 96, 96, 64) in 480 wide by 640 high
    assert [box["value"][k] for k in ("x", "y", "width", "height")] == [10, 15, 20, 10]
    assert (box["original_width"], box["original_height"]) == (480, 640)


def test_polygons(files: dict[str, bytes]) -> None:
    square, triangle = regions(results_of(files, SHAPES.item_id), "polygonlabels")
    # 100x100: percent are pixels
    assert square["value"] == {
        "points": [[10, 10], [30, 10], [30, 30], [10, 30]],
        "closed": True,
        "polygonlabels": ["road"],
    }
    assert triangle["value"]["points"] == [[0, 0], [40, 0], [0, 30]]
    assert (square["from_name"], square["id"], triangle["id"]) == ("polygon", "s0", "s1")


def test_polylines_are_open_vectors(files: dict[str, bytes]) -> None:
    [lane] = regions(results_of(files, SHAPES.item_id), "vectorlabels")
    assert lane["from_name"] == "polyline"
    assert lane["value"] == {
        "vertices": [
            {"id": "s2v0", "x": 0, "y": 50, "isBezier": False},
            {"id": "s2v1", "x": 100, "y": 50, "prevPointId": "s2v0", "isBezier": False},
        ],
        "closed": False,
        "vectorlabels": ["lane"],
    }


def test_keypoints_one_result_per_labeled_point(files: dict[str, bytes]) -> None:
    results = results_of(files, SHAPES.item_id)
    points = regions(results, "keypointlabels")
    # POSE: head (50, 10) visible, left_hand (40, 30) hidden, right_hand not labeled, hip (55, 60)
    assert {p["from_name"] for p in points} == {"keypoints-12"}
    assert [(p["id"], p["value"]) for p in points] == [
        ("s3k0", {"x": 50, "y": 10, "width": KEYPOINT_WIDTH, "keypointlabels": ["head"]}),
        ("s3k1", {"x": 40, "y": 30, "width": KEYPOINT_WIDTH, "keypointlabels": ["left_hand"]}),
        ("s3k3", {"x": 55, "y": 60, "width": KEYPOINT_WIDTH, "keypointlabels": ["hip"]}),
    ]
    # the hidden one says so in a per-region choice of the same id
    hidden = [r for r in results if r.get("from_name") == "keypoints-12-hidden"]
    assert [(h["id"], h["type"], h["value"]["choices"]) for h in hidden] == [
        ("s3k1", "choices", ["hidden"])
    ]
    # skeleton edges (1,2), (1,3), (1,4): the one to the unlabeled right hand is left out
    relations = [r for r in results if r["type"] == "relation"]
    assert [(r["from_id"], r["to_id"], r["direction"]) for r in relations] == [
        ("s3k0", "s3k1", "right"),
        ("s3k0", "s3k3", "right"),
    ]


def test_classifications_are_one_choices_result_with_their_attributes(
    files: dict[str, bytes],
) -> None:
    results = results_of(files, SHAPES.item_id)
    [choices] = [r for r in results if r.get("from_name") == "classification"]
    assert (choices["type"], choices["value"]) == ("choices", {"choices": ["weather"]})
    # SKY's attribute sky=clear: a whole-image choice of the class's attribute control
    [sky] = [r for r in results if r.get("from_name") == "attr-13-0"]
    assert (sky["type"], sky["value"], sky["id"]) == ("choices", {"choices": ["clear"]}, "s4a0")


def test_region_attributes_are_per_region_results(files: dict[str, bytes]) -> None:
    results = results_of(files, STREET.item_id)
    [occluded] = [r for r in results if r.get("from_name") == "attr-2-0"]
    [person] = [r for r in results if r["id"] == "s1" and r["type"] == "rectanglelabels"]
    assert occluded["id"] == "s1"  # the region's id: Label Studio joins them by it
    assert occluded["type"] == "choices"
    geometry = {k: v for k, v in person["value"].items() if k != "rectanglelabels"}
    assert occluded["value"] == {**geometry, "choices": ["true"]}
    assert results.index(occluded) > results.index(person)  # the region comes first


def test_every_shape_is_written(package: tuple[dict[str, bytes], PackageSummary]) -> None:
    assert package[1].annotations == 10  # 5 boxes, 2 polygons, a polyline, a pose, a class


def test_same_item_gives_the_same_files(tmp_path: Path) -> None:
    first, _ = build(tmp_path / "a", (SHAPES,), formats=LS)
    again, _ = build(tmp_path / "b", (SHAPES,), formats=LS)
    assert first[TASKS] == again[TASKS] and first[CONFIG] == again[CONFIG]


# ----- the labeling config ---------------------------------------------------------------------


def test_config_controls(files: dict[str, bytes]) -> None:
    root = ET.fromstring(files[CONFIG])  # noqa: S314 - our own output
    assert root.tag == "View"
    [image] = root.iter("Image")
    assert (image.get("name"), image.get("value")) == ("image", "$image")
    assert controls(files[CONFIG]) == {
        "box": (
            "RectangleLabels",
            "image",
            ["car", "person", "traffic light", NASTY, xml_text(WEIRD)],
        ),
        "polygon": ("PolygonLabels", "image", ["road"]),
        "polyline": ("VectorLabels", "image", ["lane"]),
        "keypoints-12": ("KeyPointLabels", "image", ["head", "left_hand", "right_hand", "hip"]),
        "keypoints-12-hidden": ("Choices", "image", ["hidden"]),
        "classification": ("Choices", "image", ["weather"]),
        "attr-2-0": ("Choices", "image", ["true", "false"]),
        "attr-13-0": ("Choices", "image", ["clear", "rain"]),
    }
    order = [label.get("model_index") for label in next(root.iter("KeyPointLabels"))]
    assert order == ["0", "1", "2", "3"]
    per_region = {c.get("name") for c in root.iter() if c.get("perRegion") == "true"}
    assert per_region == {"attr-2-0", "keypoints-12-hidden"}  # not the classification's


def test_results_name_the_configs_controls_and_labels(files: dict[str, bytes]) -> None:
    names = controls(files[CONFIG])
    checked = 0
    for task in tasks_of(files):
        ids = {r.get("id") for r in task["annotations"][0]["result"]}
        for result in task["annotations"][0]["result"]:
            if result["type"] == "relation":
                assert {result["from_id"], result["to_id"]} <= ids
                continue
            tag, to_name, values = names[result["from_name"]]
            assert to_name == result["to_name"] == "image"
            assert result["type"] == tag.lower()
            [chosen] = [v for k, v in result["value"].items() if k == result["type"]] or [
                result["value"].get("text")
            ]
            if values:
                assert set(chosen) <= set(values), (result, values)
            checked += 1
    assert checked == 4 + 1 + 10  # street (3 boxes, an attribute), rotated, shapes


def test_nasty_names_stay_the_same_in_config_and_results(files: dict[str, bytes]) -> None:
    config = files[CONFIG]
    assert b'value="&lt;car &amp; &quot;bus&quot;&gt;"' in config
    assert b"\x01" not in config
    dom = xml.dom.minidom.parseString(config)  # noqa: S318 - would fail on a raw \x01
    labels = [n.getAttribute("value") for n in dom.getElementsByTagName("Label")]
    assert NASTY in labels
    weird = xml_text(WEIRD)
    assert weird == 'line\nbreak\ufffd: "x" # 🚗' and weird in labels  # the line break kept
    [box] = regions(results_of(files, SHAPES.item_id), "rectanglelabels")
    assert box["value"]["rectanglelabels"] == [weird]


def test_names_with_commas_do_not_narrow_a_view(tmp_path: Path) -> None:
    # whenLabelValue takes a comma-separated list: "a, b" would show for labels "a" and " b"
    ontology = Ontology(classes=(ONTOLOGY.classes[1].model_copy(update={"name": "a, b"}),))
    files, _ = build(tmp_path, (), formats=LS, ontology=ontology)
    root = ET.fromstring(files[CONFIG])  # noqa: S314 - our own output
    [view] = [v for v in root.iter("View") if v.get("visibleWhen")]
    assert view.get("whenTagName") == "box" and view.get("whenLabelValue") is None


def test_config_without_classes_has_just_the_image(tmp_path: Path) -> None:
    files, _ = build(tmp_path, (EMPTY,), formats=LS, ontology=Ontology())
    root = ET.fromstring(files[CONFIG])  # noqa: S314 - our own output
    assert [c.tag for c in root] == ["Image"]
    assert not files[CONFIG].startswith(b"<?xml")  # Label Studio refuses a declared encoding


# ----- what is left out ------------------------------------------------------------------------


def test_shapes_it_cannot_carry_are_left_out(tmp_path: Path) -> None:
    empty_mask = MaskShape(class_id=4, rle=Rle(size=(10, 10), counts=(100,)))
    odd = make_item(
        "itm_odd",
        (
            BoxShape(class_id=99, bbox=(1, 1, 2, 2)),  # the class is gone from the ontology
            KeypointsShape(class_id=12, keypoints=((1, 1, 2), (2, 2, 2))),  # 2 of 4 keypoints
            KeypointsShape(class_id=12, keypoints=((0, 0, 0),) * 4),  # no labeled point
            PolygonShape(class_id=1, points=((0, 0), (5, 0), (0, 5))),  # car is a box class
            empty_mask,
            BoxShape(class_id=1, bbox=(1, 1, 2, 2), attributes={"nope": "x"}),
        ),
        (10, 10),
    )
    ontology = Ontology(classes=(*ONTOLOGY.classes, OntologyClass(id=4, name="m", kind="mask")))
    files, summary = build(tmp_path, (odd,), formats=LS, ontology=ontology)
    results = results_of(files, "itm_odd")
    assert [(r["id"], r["type"]) for r in results] == [("s5", "rectanglelabels")]
    assert summary.annotations == 1


def test_a_keypoint_class_without_skeleton_has_no_control(tmp_path: Path) -> None:
    bare = OntologyClass(id=30, name="points", kind="keypoints")
    item = make_item("itm_kp", (KeypointsShape(class_id=30, keypoints=((1, 1, 2),)),), (10, 10))
    files, summary = build(tmp_path, (item,), formats=LS, ontology=Ontology(classes=(bare,)))
    assert controls(files[CONFIG]) == {}
    assert results_of(files, "itm_kp") == [] and summary.annotations == 0


def test_a_class_chosen_twice_is_listed_once(tmp_path: Path) -> None:
    twice = make_item(
        "itm_twice",
        (
            ClassificationShape(class_id=13, attributes={"sky": "rain"}),
            ClassificationShape(class_id=13, attributes={"sky": "clear"}),
            ClassificationShape(class_id=13, attributes={"sky": "fog"}),  # not an option
        ),
        (10, 10),
    )
    files, summary = build(tmp_path, (twice,), formats=LS)
    results = results_of(files, "itm_twice")
    assert [(r["from_name"], r["value"]) for r in results] == [
        ("classification", {"choices": ["weather"]}),
        ("attr-13-0", {"choices": ["rain"]}),  # the first one's
    ]
    assert summary.annotations == 3


# ----- masks and provenance --------------------------------------------------------------------


def decode_brush(data: list[int]) -> np.ndarray:
    """thi.ng rle-pack's `decode`, read straight from its definition, bit by bit."""
    bits = "".join(f"{byte:08b}" for byte in data)
    at = 0

    def read(n: int) -> int:
        nonlocal at
        value = int(bits[at : at + n], 2)
        at += n
        return value

    num = read(32)
    word = read(5) + 1
    sizes = [read(4) + 1 for _ in range(4)]
    out = np.zeros(num, dtype=np.uint8)
    i = 0
    while i < num:
        repeated = read(1)
        j = i + 1 + read(sizes[read(2)])
        if repeated:
            out[i:j] = read(word)
            i = j
        else:
            while i < j:
                out[i] = read(word)
                i += 1
    assert len(bits) - at < 8  # nothing but the last byte's padding is left
    return out


def brush_pixels(result: dict[str, Any]) -> np.ndarray:
    rgba = decode_brush(result["value"]["rle"])
    height, width = result["original_height"], result["original_width"]
    image = rgba.reshape(height, width, 4)
    assert set(np.unique(image).tolist()) <= {0, 255}
    assert (image == image[:, :, :1]).all()  # every channel alike
    return image[:, :, 3] > 0  # the editor reads the alpha channel


@pytest.fixture()
def mask_files(tmp_path: Path) -> dict[str, bytes]:
    return masks_sample.package(tmp_path, formats=LS)[0]


def test_masks_are_brush_regions_pixel_for_pixel(mask_files: dict[str, bytes]) -> None:
    brushes = regions(results_of(mask_files, masks_sample.STREET.item_id), "brushlabels")
    assert [(b["id"], b["from_name"], b["value"]["brushlabels"]) for b in brushes] == [
        ("s1", "mask", ["road"]),
        ("s2", "mask", ["puddle"]),
    ]
    for brush, pixels in zip(
        brushes, (masks_sample.road_pixels(), masks_sample.puddle_pixels()), strict=True
    ):
        assert brush["value"]["format"] == "rle"
        assert (brush_pixels(brush) == pixels).all()
    assert controls(mask_files[CONFIG])["mask"] == ("BrushLabels", "image", ["road", "puddle"])


def test_provenance_is_the_results_origin_and_score(mask_files: dict[str, bytes]) -> None:
    [task] = tasks_of(mask_files)
    car, road, puddle = task["annotations"][0]["result"]
    assert (car["origin"], car["score"]) == ("prediction", 0.91)  # kept as the model made it
    assert (road["origin"], road["score"]) == ("prediction-changed", 0.55)  # edited by hand
    assert puddle["origin"] == "manual" and "score" not in puddle
    assert task["meta"]["aviary_models"] == {"s0": "segmenter@2", "s1": "segmenter@2"}


@pytest.mark.parametrize(
    ("shape", "set_pixels"),
    [
        ((1, 1), [(0, 0)]),  # one run of 4 values
        ((3, 5), [(1, 2), (2, 4)]),
        ((7, 9), []),  # nothing set: one run of zeros
        ((300, 300), "all"),  # 360,000 values: runs cut at 2**16
        ((64, 64), "checks"),  # a run per pixel
    ],
)
def test_brush_rle_round_trips(shape: tuple[int, int], set_pixels: Any) -> None:
    if set_pixels == "all":
        pixels = np.ones(shape, dtype=bool)
    elif set_pixels == "checks":
        pixels = (np.indices(shape).sum(axis=0) % 2).astype(bool)
    else:
        pixels = np.zeros(shape, dtype=bool)
        for r, c in set_pixels:
            pixels[r, c] = True
    rgba = decode_brush(brush_rle(pixels))
    assert (rgba.reshape(*shape, 4)[:, :, 3] > 0).tolist() == pixels.tolist()


def test_brush_rle_bits_by_hand() -> None:
    # header: 4 values (32 bits), word size 8 (00111), run widths 3, 4, 8, 16 (0010 0011 0111
    # 1111); then one run: 1, width 0 (00), 4 - 1 in 3 bits (011), the value 255 (11111111)
    bits = f"{4:032b}" + "00111" + "0010" + "0011" + "0111" + "1111" + "1" + "00" + "011"
    bits += "11111111"
    bits += "0" * (-len(bits) % 8)
    expected = [int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)]
    assert brush_rle(np.ones((1, 1), dtype=bool)) == expected


# ----- the package -----------------------------------------------------------------------------


def test_manifest_lists_both_files_with_checksums(
    package: tuple[dict[str, bytes], PackageSummary],
) -> None:
    files, summary = package
    manifest = json.loads(files[MANIFEST])
    assert manifest["formats"] == ["labelstudio"]
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == {CONFIG, TASKS} == set(files) - {MANIFEST}
    for path, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(files[path]).hexdigest()
        assert entry["bytes"] == len(files[path])
    assert [e.path for e in summary.files] == [CONFIG, TASKS]


def test_alongside_other_formats(tmp_path: Path) -> None:
    files, summary = build(tmp_path, formats=("coco", "labelstudio", "jsonl"))
    assert {CONFIG, TASKS, "coco/annotations.json", "jsonl/annotations.jsonl"} <= set(files)
    assert summary.annotations == 10
