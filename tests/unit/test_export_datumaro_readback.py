"""Our COCO, Pascal VOC and YOLO packages opened by Datumaro's own importers (in Datumaro's
virtualenv, aviary_devkit/interop.py): what a client's tools make of them, shape by shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.unit.test_export_datumaro import read_back, unzip
from tests.unit.test_export_formats import CLASS_NAMES, ITEMS, SHAPES, STREET, build


def anns_of(got: dict[str, Any], item_id: str) -> list[dict[str, Any]]:
    [item] = [i for i in got["items"] if i["id"].split("/")[-1].startswith(item_id)]
    return list(item["annotations"])


def boxes(anns: list[dict[str, Any]]) -> list[tuple[str, list[float]]]:
    return sorted((a["label"], a["bbox"]) for a in anns if a["type"] == "bbox")


def test_datumaro_reads_our_coco(tmp_path: Path, datumaro: Path) -> None:
    files, _ = build(tmp_path, ITEMS, formats=("coco",))
    # Datumaro's COCO layout: annotations/instances_<subset>.json beside images/<subset>/.
    root = tmp_path / "out"
    (root / "images" / "default").mkdir(parents=True)
    unzip({"annotations/instances_default.json": files["coco/annotations.json"]}, root)
    got = read_back(datumaro, root, "coco_instances")
    street = anns_of(got, STREET.item_id)
    # Boxes of classes COCO carries (class 20 is in the ontology: its box is there too).
    assert boxes(street) == sorted(
        (CLASS_NAMES[s.class_id], [float(v) for v in s.bbox])  # type: ignore[union-attr]
        for s in STREET.shapes
    )
    shapes = anns_of(got, SHAPES.item_id)
    polygons = sorted(a["points"] for a in shapes if a["type"] == "polygon")
    assert polygons == [
        [0.0, 0.0, 40.0, 0.0, 0.0, 30.0],
        [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0],
    ]


def test_datumaro_reads_our_voc(tmp_path: Path, datumaro: Path) -> None:
    files, _ = build(tmp_path, (STREET,), formats=("voc",))
    root = unzip(files, tmp_path / "out") / "voc"
    # Datumaro's VOC layout: the label list as labelmap.txt (name:colour:parts:actions, so a
    # name holding ':' cannot be in it; the street's classes have none), and a subset list.
    names = [n for n in files["voc/labels.txt"].decode().splitlines() if ":" not in n]
    (root / "labelmap.txt").write_text("".join(f"{n}:::\n" for n in names))
    main = root / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (main / "default.txt").write_text(f"{STREET.item_id}\n")
    got = read_back(datumaro, root, "voc_detection")
    street = anns_of(got, STREET.item_id)
    # VOC corners are whole pixels: 300.5 rounds half up to 301, 100.25 down to 100.
    assert boxes(street) == sorted(
        [
            (CLASS_NAMES[1], [64.0, 48.0, 128.0, 96.0]),
            (CLASS_NAMES[2], [301.0, 100.0, 20.0, 61.0]),
            (CLASS_NAMES[20], [0.0, 0.0, 16.0, 12.0]),
        ]
    )


def test_datumaro_reads_our_yolo(tmp_path: Path, datumaro: Path) -> None:
    files, _ = build(tmp_path, (STREET,), formats=("yolo",))
    root = unzip(files, tmp_path / "out") / "yolo"
    # Datumaro's YOLO layout: obj.names, obj.data and a list of images beside the labels,
    # whose sizes it reads from the images (here, blank ones of the item's size).
    names = files["yolo/classes.txt"].decode()
    (root / "obj.names").write_text(names)
    (root / "obj.data").write_text(
        f"classes = {len(names.splitlines())}\ntrain = train.txt\nnames = obj.names\n"
    )
    data = root / "obj_train_data"
    data.mkdir()
    (data / f"{STREET.item_id}.txt").write_bytes(files[f"yolo/labels/{STREET.item_id}.txt"])
    Image.new("RGB", (STREET.width, STREET.height)).save(data / f"{STREET.item_id}.jpg")
    (root / "train.txt").write_text(f"obj_train_data/{STREET.item_id}.jpg\n")
    got = read_back(datumaro, root, "yolo")
    read = boxes(anns_of(got, STREET.item_id))
    want = sorted(
        (CLASS_NAMES[s.class_id], [float(v) for v in s.bbox])  # type: ignore[union-attr]
        for s in STREET.shapes
    )
    assert [label for label, _ in read] == [label for label, _ in want]
    for (_, got_box), (_, want_box) in zip(read, want, strict=True):
        assert got_box == pytest.approx(want_box, abs=0.01)  # 6 normalised decimals
