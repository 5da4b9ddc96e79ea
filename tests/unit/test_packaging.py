"""Unit tests for the delivery package writer (services/export/formats): the COCO baseline, the
zip and its manifest, the writer's life cycle, and streaming (memory and time).

Format details (polygons, keypoints, YOLO, VOC, JSONL) are in test_export_formats.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pycocotools.coco import COCO

from aviary.contracts.shapes import BoxShape, Ontology, OntologyClass, PolylineShape, Shape
from services.export.formats import (
    MANIFEST,
    PackageItem,
    PackageSpec,
    PackageSummary,
    PackageWriter,
    image_file_name,
    sha256_file,
)

ONTOLOGY = Ontology(
    classes=(
        OntologyClass(id=1, name="car"),
        OntologyClass(id=2, name="person"),
        OntologyClass(id=7, name="traffic light"),
        OntologyClass(id=9, name="lane", kind="polyline"),
    )
)


def box(class_id: int, x: float, y: float, w: float, h: float) -> BoxShape:
    return BoxShape(class_id=class_id, bbox=(x, y, w, h))


def item(
    item_id: str,
    shapes: tuple[Shape, ...] = (),
    *,
    file_name: str = "photo.jpg",
    fmt: str = "jpeg",
    size: tuple[int, int] = (640, 480),
    ontology_version: int = 1,
    image_bytes: bytes | None = None,
) -> PackageItem:
    return PackageItem(
        item_id=item_id,
        file_name=file_name,
        format=fmt,
        width=size[0],
        height=size[1],
        ontology_version=ontology_version,
        shapes=shapes,
        annotator_id="usr_annotator",
        reviewer_id="usr_reviewer",
        accepted_at="2024-05-01T12:00:00+00:00",
        image_bytes=image_bytes,
    )


ITEMS = (
    item(
        "itm_aaa",
        (box(1, 10.0, 20.0, 100.0, 50.0), box(2, 300.5, 100.25, 20.0, 60.5)),
        file_name="street 01.jpg",
    ),
    item("itm_bbb", file_name="empty road.png", fmt="png", size=(800, 600)),
    item(
        "itm_ccc",
        (box(7, 0.0, 0.0, 1920.0, 1080.0),),
        file_name="../../etc/passwd",
        fmt="webp",
        size=(1920, 1080),
    ),
    item(
        "itm_ddd",
        (box(1, 1.0, 2.0, 3.0, 4.0), box(1, 5.0, 6.0, 7.0, 8.0), box(2, 0.5, 0.5, 0.25, 0.75)),
        file_name='quote " and 日本.jpg',
        size=(320, 240),
    ),
    item(
        "itm_eee",
        (box(2, 50.0, 50.0, 50.0, 50.0),),
        file_name="last.png",
        fmt="png",
        size=(100, 100),
    ),
)
BOXES = sum(len(i.shapes) for i in ITEMS)


def make_spec(**changes: Any) -> PackageSpec:
    spec = PackageSpec(
        delivery_id="dlv_1",
        kind="full",
        project_id="prj_1",
        batch_id="bat_1",
        ontology=ONTOLOGY,
        project_version=4,
        formats=("coco",),
        include_images=False,
        include_people=False,
    )
    return dataclasses.replace(spec, **changes)


def build(
    tmp_path: Path, items: tuple[PackageItem, ...] = ITEMS, **changes: Any
) -> tuple[Path, PackageSummary]:
    workdir = tmp_path / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    zip_path = tmp_path / "delivery.zip"
    writer = PackageWriter(zip_path, workdir, make_spec(**changes))
    for one in items:
        writer.add(one)
    return zip_path, writer.close()


def read(zip_path: Path, name: str) -> Any:
    with zipfile.ZipFile(zip_path) as zf:
        return json.loads(zf.read(name))


def extract(zip_path: Path, name: str, out: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        return Path(zf.extract(name, out))


@pytest.fixture()
def package(tmp_path: Path) -> tuple[Path, PackageSummary]:
    return build(tmp_path)


@pytest.fixture()
def coco(package: tuple[Path, PackageSummary], tmp_path: Path) -> COCO:
    return COCO(str(extract(package[0], "coco/annotations.json", tmp_path / "out")))


@pytest.fixture()
def coco_json(package: tuple[Path, PackageSummary]) -> dict[str, Any]:
    data: dict[str, Any] = read(package[0], "coco/annotations.json")
    return data


# ----- image_file_name ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("jpeg", "itm_1.jpg"), ("png", "itm_1.png"), ("webp", "itm_1.webp")],
)
def test_image_file_name(fmt: str, expected: str) -> None:
    assert image_file_name("itm_1", fmt) == expected


# ----- the COCO file (boxes) ---------------------------------------------------------------------


def test_summary_counts(package: tuple[Path, PackageSummary]) -> None:
    _, summary = package
    assert (summary.images, summary.annotations) == (5, 7) == (len(ITEMS), BOXES)


def test_coco_loads_with_pycocotools(coco: COCO) -> None:
    assert len(coco.getImgIds()) == len(ITEMS)
    assert len(coco.getAnnIds()) == BOXES
    # polyline classes have no COCO form: they are not categories
    assert sorted(coco.getCatIds()) == [1, 2, 7]
    assert {c["name"] for c in coco.loadCats(coco.getCatIds())} == {
        "car",
        "person",
        "traffic light",
    }


def test_every_image_and_box_matches_the_input(coco: COCO) -> None:
    by_item = {img["aviary_item_id"]: img for img in coco.loadImgs(coco.getImgIds())}
    assert set(by_item) == {i.item_id for i in ITEMS}
    for source in ITEMS:
        img = by_item[source.item_id]
        assert img["file_name"] == image_file_name(source.item_id, source.format)
        assert img["original_file_name"] == source.file_name
        assert (img["width"], img["height"]) == (source.width, source.height)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
        got = sorted((a["category_id"], tuple(a["bbox"])) for a in anns)
        assert got == sorted((s.class_id, s.bbox) for s in source.shapes if isinstance(s, BoxShape))
        for ann in anns:
            _x, _y, w, h = ann["bbox"]
            assert ann["area"] == pytest.approx(w * h)
            assert ann["iscrowd"] == 0
            assert ann["segmentation"] == []


def test_image_without_boxes_is_listed_with_no_annotations(coco: COCO) -> None:
    [empty] = [i for i in coco.loadImgs(coco.getImgIds()) if i["aviary_item_id"] == "itm_bbb"]
    assert coco.getAnnIds(imgIds=[empty["id"]]) == []


def test_ids_are_unique_and_consistent(coco_json: dict[str, Any]) -> None:
    image_ids = [i["id"] for i in coco_json["images"]]
    ann_ids = [a["id"] for a in coco_json["annotations"]]
    assert image_ids == list(range(1, 6))
    assert ann_ids == list(range(1, 8))
    assert {a["image_id"] for a in coco_json["annotations"]} <= set(image_ids)
    assert {a["category_id"] for a in coco_json["annotations"]} <= {1, 2, 7}
    assert len({i["file_name"] for i in coco_json["images"]}) == 5


def test_info_and_top_level_keys(coco_json: dict[str, Any]) -> None:
    assert coco_json["info"] == {
        "description": "Aviary delivery dlv_1",
        "delivery_id": "dlv_1",
        "project_id": "prj_1",
        "batch_id": "bat_1",
        "project_version": 4,
    }
    assert coco_json["licenses"] == []
    assert set(coco_json) == {"info", "licenses", "images", "annotations", "categories"}


def test_first_image_without_boxes_still_gives_valid_json(tmp_path: Path) -> None:
    items = (ITEMS[1], ITEMS[0], dataclasses.replace(ITEMS[1], item_id="itm_fff"))
    zip_path, summary = build(tmp_path, items)
    data = read(zip_path, "coco/annotations.json")
    assert len(data["images"]) == 3
    assert len(data["annotations"]) == summary.annotations == 2


def test_empty_package_is_valid_coco(tmp_path: Path) -> None:
    zip_path, summary = build(tmp_path, ())
    assert (summary.images, summary.annotations) == (0, 0)
    data = read(zip_path, "coco/annotations.json")
    assert data["images"] == [] and data["annotations"] == []
    coco = COCO(str(extract(zip_path, "coco/annotations.json", tmp_path / "out")))
    assert len(coco.getCatIds()) == 3
    manifest = read(zip_path, MANIFEST)
    assert manifest["ontology_versions"] == []
    assert [f["path"] for f in manifest["files"]] == ["coco/annotations.json"]


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    content = bytes(range(256)) * 10_000  # more than one read chunk
    path.write_bytes(content)
    assert sha256_file(path) == hashlib.sha256(content).hexdigest()


# ----- the zip and its manifest ------------------------------------------------------------------


def test_zip_is_sound_and_manifest_is_last(tmp_path: Path) -> None:
    zip_path, summary = build(tmp_path, formats=("coco", "yolo", "voc", "jsonl"))
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
    assert names[-1] == MANIFEST
    assert len(names) == len(set(names))
    assert [f.path for f in summary.files] == names[:-1]


@pytest.mark.parametrize(
    "formats", [("coco",), ("yolo",), ("voc",), ("jsonl",), ("coco", "yolo", "voc", "jsonl")]
)
def test_manifest_lists_every_other_file_with_hash_and_size(
    tmp_path: Path, formats: tuple[str, ...]
) -> None:
    zip_path, summary = build(tmp_path, formats=formats)
    with zipfile.ZipFile(zip_path) as zf:
        manifest = json.loads(zf.read(MANIFEST))
        others = [n for n in zf.namelist() if n != MANIFEST]
        listed = [entry["path"] for entry in manifest["files"]]
        assert sorted(listed) == sorted(others)
        assert len(listed) == len(set(listed))
        for entry in manifest["files"]:
            content = zf.read(entry["path"])
            assert entry["sha256"] == hashlib.sha256(content).hexdigest()
            assert entry["bytes"] == len(content)
    assert [dataclasses.asdict(f) for f in summary.files] == manifest["files"]


def test_manifest_fields(tmp_path: Path) -> None:
    items = (
        dataclasses.replace(ITEMS[0], ontology_version=3),
        dataclasses.replace(ITEMS[1], ontology_version=1),
        dataclasses.replace(ITEMS[2], ontology_version=3),
    )
    zip_path, _ = build(tmp_path, items, kind="incremental", formats=("jsonl", "coco"))
    manifest = read(zip_path, MANIFEST)
    assert {k: v for k, v in manifest.items() if k != "files"} == {
        "delivery_id": "dlv_1",
        "kind": "incremental",
        "project_id": "prj_1",
        "batch_id": "bat_1",
        "project_version": 4,
        "ontology_versions": [1, 3],
        "formats": ["coco", "jsonl"],
        "include_images": False,
        "counts": {"images": 3, "annotations": 3},
        "models": {},  # every shape drawn by hand
        "dropped": [],  # no item was taken out of the batch
    }


@pytest.mark.parametrize(
    ("formats", "prefixes"),
    [
        (("coco",), {"coco/"}),
        (("yolo",), {"yolo/"}),
        (("voc",), {"voc/"}),
        (("jsonl",), {"jsonl/"}),
        (("voc", "coco"), {"voc/", "coco/"}),
    ],
)
def test_only_the_requested_formats_are_written(
    tmp_path: Path, formats: tuple[str, ...], prefixes: set[str]
) -> None:
    zip_path, _ = build(tmp_path, formats=formats)
    with zipfile.ZipFile(zip_path) as zf:
        folders = {n.split("/")[0] + "/" for n in zf.namelist() if n != MANIFEST}
    assert folders == prefixes


def test_include_images_puts_the_exact_bytes_under_images(tmp_path: Path) -> None:
    blobs = {i.item_id: hashlib.sha512(i.item_id.encode()).digest() * 100 for i in ITEMS}
    items = tuple(dataclasses.replace(i, image_bytes=blobs[i.item_id]) for i in ITEMS)
    zip_path, summary = build(tmp_path, items, include_images=True)
    with zipfile.ZipFile(zip_path) as zf:
        stored = {n: zf.read(n) for n in zf.namelist() if n.startswith("images/")}
        assert all(
            zf.getinfo(n).compress_type == zipfile.ZIP_STORED for n in stored
        )  # already compressed formats: not deflated again
    assert stored == {
        f"images/{image_file_name(i.item_id, i.format)}": blobs[i.item_id] for i in items
    }
    manifest = read(zip_path, MANIFEST)
    assert manifest["include_images"] is True
    listed = {f.path: f for f in summary.files}
    for name, content in stored.items():
        assert listed[name].sha256 == hashlib.sha256(content).hexdigest()


def test_images_are_left_out_unless_asked_for(tmp_path: Path) -> None:
    items = tuple(dataclasses.replace(i, image_bytes=b"\xff\xd8 not wanted") for i in ITEMS)
    zip_path, _ = build(tmp_path, items, formats=("coco", "yolo"))
    with zipfile.ZipFile(zip_path) as zf:
        assert not [n for n in zf.namelist() if n.startswith("images/")]


def test_include_images_without_bytes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="itm_aaa"):
        build(tmp_path, ITEMS[:1], include_images=True)


def test_annotation_count_is_shapes_written_to_some_format(tmp_path: Path) -> None:
    lane = PolylineShape(class_id=9, points=((0.0, 0.0), (5.0, 5.0)))
    unknown = box(99, 1.0, 1.0, 2.0, 2.0)  # a class no longer in the ontology
    items = (item("itm_a", (box(1, 1.0, 1.0, 2.0, 2.0), lane, unknown)),)
    _, coco_only = build(tmp_path / "a", items)
    _, with_jsonl = build(tmp_path / "b", items, formats=("coco", "jsonl"))
    assert coco_only.annotations == 1  # polylines and unknown classes have no COCO form
    assert with_jsonl.annotations == 3  # JSONL keeps every shape


# ----- the writer's life cycle -------------------------------------------------------------------


def test_part_files_are_removed_and_the_workdir_left_clean(tmp_path: Path) -> None:
    build(tmp_path, formats=("coco", "jsonl", "yolo"))
    assert list((tmp_path / "work").iterdir()) == []


def test_add_or_close_after_close_is_refused(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    writer = PackageWriter(tmp_path / "p.zip", tmp_path / "work", make_spec())
    writer.close()
    with pytest.raises(RuntimeError):
        writer.add(ITEMS[0])
    with pytest.raises(RuntimeError):
        writer.close()


def test_an_item_added_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    writer = PackageWriter(tmp_path / "p.zip", tmp_path / "work", make_spec())
    writer.add(ITEMS[0])
    with pytest.raises(ValueError, match="twice"):
        writer.add(ITEMS[0])
    writer.abort()


def test_leaving_the_block_without_close_discards_the_package(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    zip_path = tmp_path / "p.zip"
    spec = make_spec(formats=("coco", "jsonl"))
    with pytest.raises(KeyError), PackageWriter(zip_path, workdir, spec) as writer:
        writer.add(ITEMS[0])
        raise KeyError("the database went away")
    assert not zip_path.exists()
    assert list(workdir.iterdir()) == []


def test_a_non_finite_coordinate_is_refused(tmp_path: Path) -> None:
    bad = item("itm_nan", (box(1, float("nan"), 0.0, 1.0, 1.0),))
    (tmp_path / "work").mkdir()
    with PackageWriter(tmp_path / "p.zip", tmp_path / "work", make_spec()) as writer:
        with pytest.raises(ValueError, match="itm_nan"):
            writer.add(bad)
        summary = writer.close()
    assert summary.images == 0  # nothing of the refused item was written
    assert read(tmp_path / "p.zip", "coco/annotations.json")["images"] == []


@pytest.mark.parametrize("item_id", ["", "../itm", "a/b", ".hidden", "itm 1", "itm\n", "x" * 200])
def test_item_ids_that_are_not_safe_file_names_are_refused(item_id: str) -> None:
    with pytest.raises(ValueError):
        item(item_id)


@pytest.mark.parametrize(
    "changes",
    [
        {"fmt": "gif"},
        {"size": (0, 480)},
        {"size": (640, -1)},
    ],
)
def test_items_without_a_usable_image_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        item("itm_1", **changes)


@pytest.mark.parametrize(
    "changes", [{"formats": ()}, {"formats": ("coco", "tfrecord")}, {"kind": "weekly"}]
)
def test_bad_specs_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        make_spec(**changes)


# ----- streaming ---------------------------------------------------------------------------------

# A writer that kept the items, or their COCO dicts, would hold more than 3 KB per item here
# (100,000 annotation dicts alone are about 60 MB). What may grow is zipfile's directory and the
# manifest entries: a few hundred bytes per file in the zip.
PEAK_LIMIT = 40_000_000
GROWTH_PER_ITEM_LIMIT = 1_500


def five_box_item(n: int) -> PackageItem:
    shapes = tuple(box((1, 2, 7)[k % 3], 10.0 * k, 20.0 + n % 7, 30.5, 40.25) for k in range(5))
    return item(f"itm_{n:08d}", shapes, file_name=f"frame_{n}.jpg")


def test_memory_stays_flat_while_streaming(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    spec = make_spec(formats=("coco", "yolo"))
    tracemalloc.start()
    try:
        started = time.perf_counter()
        writer = PackageWriter(tmp_path / "big.zip", workdir, spec)
        for n in range(20_000):
            writer.add(five_box_item(n))
            if n == 9_999:
                halfway = tracemalloc.get_traced_memory()[0]
        after_adds = tracemalloc.get_traced_memory()[0]
        summary = writer.close()
        peak = tracemalloc.get_traced_memory()[1]
        elapsed = time.perf_counter() - started
    finally:
        tracemalloc.stop()
    growth = (after_adds - halfway) / 10_000
    print(
        f"\n20,000 items, 100,000 boxes, coco+yolo under tracemalloc: {elapsed:.1f} s, "
        f"peak {peak / 1e6:.1f} MB, {growth:.0f} bytes per item"
    )
    assert (summary.images, summary.annotations) == (20_000, 100_000)
    assert len(summary.files) == 20_000 + 3  # labels, classes.txt, data.yaml, COCO
    assert peak < PEAK_LIMIT
    assert growth < GROWTH_PER_ITEM_LIMIT
    with zipfile.ZipFile(tmp_path / "big.zip") as zf:
        assert len(zf.namelist()) == 20_000 + 4
        coco_info = zf.getinfo("coco/annotations.json")
    assert coco_info.file_size > PEAK_LIMIT // 4  # the COCO file itself is big


def test_ten_thousand_items_are_packaged_quickly(tmp_path: Path) -> None:
    items = [five_box_item(n) for n in range(10_000)]
    workdir = tmp_path / "work"
    workdir.mkdir()
    started = time.perf_counter()
    with PackageWriter(tmp_path / "p.zip", workdir, make_spec(formats=("coco", "yolo"))) as writer:
        for one in items:
            writer.add(one)
        summary = writer.close()
    elapsed = time.perf_counter() - started
    print(f"\n10,000 items, 50,000 boxes, coco+yolo: {elapsed:.2f} s")
    assert summary.annotations == 50_000
    assert elapsed < 5.0
