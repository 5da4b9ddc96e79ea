"""The COCO reader (client/aviary/interop/coco.py): every shape kind of a hand-made file, every
refusal with its message, and our own COCO export read back and mapped onto the ontology it came
from, shape by shape."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aviary.contracts.shapes import MaskShape, Ontology, OntologyClass, Rle
from aviary.interop import coco
from aviary.interop.foreign import ForeignFormatError, ForeignShape
from aviary.interop.mapping import map_onto
from services.export.formats.coco import COCO_KINDS
from services.export.formats.model import image_file_name
from shared.domain import masks
from tests.unit import test_export_masks as with_masks
from tests.unit.test_export_formats import ITEMS, ONTOLOGY, build

W, H = 40, 30


def blob() -> np.ndarray:
    pixels = np.zeros((H, W), dtype=bool)
    pixels[5:12, 8:20] = True
    pixels[20:25, 30:38] = True
    return pixels


def document() -> dict[str, Any]:
    """A COCO file with every kind of annotation COCO has."""
    compressed = masks.encode(blob())
    assert isinstance(compressed.counts, str)
    return {
        "info": {"description": "made by hand"},
        "licenses": [],
        "images": [
            {"id": 1, "file_name": "street/a.jpg", "width": W, "height": H, "license": 0},
            {"id": 2, "file_name": "b.png", "width": W, "height": H},
            {"id": 7, "file_name": "empty.jpg"},  # no size, no annotations
        ],
        "categories": [
            {"id": 1, "name": "car", "supercategory": "vehicle"},
            {"id": 2, "name": "road"},
            {
                "id": 3,
                "name": "person",
                "keypoints": ["head", "foot"],
                "skeleton": [[1, 2]],
            },
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 5], "area": 50,
             "iscrowd": 0, "segmentation": []},
            {"id": 11, "image_id": 1, "category_id": 2, "bbox": [0, 0, 9, 9], "iscrowd": 0,
             "segmentation": [[0, 0, 9, 0, 9, 9]]},
            {"id": 12, "image_id": 1, "category_id": 2, "iscrowd": 0,
             "segmentation": [[0, 0, 4, 0, 4, 4], [10, 10, 14, 10, 14, 14, 10, 14]]},
            {"id": 13, "image_id": 2, "category_id": 2, "iscrowd": 0,
             "segmentation": {"size": [H, W], "counts": compressed.counts}},
            {"id": 14, "image_id": 2, "category_id": 2, "iscrowd": 1,
             "segmentation": {"size": [H, W], "counts": [0, 5, W * H - 5]}},
            {"id": 15, "image_id": 2, "category_id": 3, "bbox": [3, 4, 10, 20], "area": 200,
             "iscrowd": 0, "segmentation": [[3, 4, 13, 4, 13, 24]], "num_keypoints": 1,
             "keypoints": [5, 6, 2, 0, 0, 0]},
            {"id": 16, "image_id": 2, "category_id": 1, "bbox": [5.5, 6.25, 1, 2], "score": 0.75,
             "attributes": {"occluded": True, "colour": "red", "rotation": 30.0,
                            "track_id": 4, "keyframe": False}},
        ],
    }  # fmt: skip


def write(tmp_path: Path, data: Any, name: str = "instances.json") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_every_kind(tmp_path: Path) -> None:
    found = coco.read(write(tmp_path, document()))
    assert found.format == "coco"
    a, b, empty = found.images
    assert (a.name, a.width, a.height) == ("street/a.jpg", W, H)
    assert (empty.name, empty.width, empty.height, empty.shapes) == ("empty.jpg", None, None, ())
    assert a.shapes == (
        ForeignShape("car", "bbox", bbox=(1, 2, 10, 5)),
        # a segmentation wins over the bbox
        ForeignShape("road", "polygon", points=((0, 0), (9, 0), (9, 9))),
        # two parts: two polygons
        ForeignShape("road", "polygon", points=((0, 0), (4, 0), (4, 4))),
        ForeignShape("road", "polygon", points=((10, 10), (14, 10), (14, 14), (10, 14))),
    )
    mask, crowd, pose, scored = b.shapes
    assert mask == ForeignShape("road", "mask", rle=masks.encode(blob()))
    assert crowd.rle == Rle(size=(H, W), counts=(0, 5, W * H - 5))
    assert pose == ForeignShape("person", "keypoints", keypoints=((5, 6, 2), (0, 0, 0)))
    # CVAT's turned box: its bbox is the box before it turns, its rotation an attribute
    assert (scored.bbox, scored.rotation) == ((5.5, 6.25, 1, 2), 30.0)
    assert scored.score == 0.75
    # text and yes/no kept; the track number is not an attribute Aviary keeps
    assert scored.attributes == {"occluded": True, "colour": "red", "keyframe": False}
    assert found.skeletons == {"person": ("head", "foot")}
    assert sorted(found.notes) == [
        "1 crowd regions (iscrowd 1) read as single objects",
        "1 keypoint annotations whose box and outline were dropped"
        " (an Aviary keypoints shape has neither)",
        "1 outlines in several parts read as one polygon per part",
        "attribute values that are not text or yes/no dropped: track_id (1)",
    ]


def test_maps_onto_an_ontology(tmp_path: Path) -> None:
    ontology = Ontology(
        classes=(
            OntologyClass(id=1, name="car"),
            OntologyClass(id=2, name="road", kind="polygon"),
            OntologyClass(id=3, name="puddle", kind="mask"),
        )
    )
    data = document()
    data["annotations"] = [a for a in data["annotations"] if a["id"] in (10, 11, 13)]
    data["annotations"][2]["category_id"] = 4
    data["categories"].append({"id": 4, "name": "puddle"})
    mapped = map_onto(coco.read(write(tmp_path, data)), ontology)
    assert mapped.report.ok, mapped.report.refused
    assert [s.kind for s in mapped.annotations["street/a.jpg"].shapes] == ["bbox", "polygon"]
    [mask] = mapped.annotations["b.png"].shapes
    assert isinstance(mask, MaskShape)
    assert (masks.decode(mask.rle) == blob()).all()


def test_string_counts_decode_as_pycocotools_does() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        pixels = rng.random((23, 31)) > rng.random()
        rle = masks.encode(pixels)
        assert isinstance(rle.counts, str)
        assert coco._string_runs(rle.counts) == masks.string_to_counts(rle.counts).tolist()


def test_a_folder_with_one_json_file(tmp_path: Path) -> None:
    write(tmp_path / "export" / "annotations", document(), "instances_default.json")
    assert len(coco.read(tmp_path / "export").images) == 3


def test_a_folder_with_several_json_files_or_none(tmp_path: Path) -> None:
    write(tmp_path / "annotations", document(), "instances_default.json")
    write(tmp_path / "annotations", document(), "person_keypoints_default.json")
    with pytest.raises(ForeignFormatError, match=r"several \.json files") as info:
        coco.read(tmp_path)
    assert "annotations/person_keypoints_default.json" in str(info.value)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(
        ForeignFormatError, match=r"no COCO \.json file here, nor under annotations"
    ):
        coco.read(tmp_path / "nothing")


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"images": [')
    with pytest.raises(ForeignFormatError, match=r"^broken.json: not JSON: Expecting value"):
        coco.read(path)
    path.write_bytes(b'{"images": "\xc3\x28"}')
    with pytest.raises(ForeignFormatError, match="not JSON: the file is not UTF-8 text"):
        coco.read(path)


def test_a_results_file_is_refused(tmp_path: Path) -> None:
    results = [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.9}]
    with pytest.raises(ForeignFormatError, match="a COCO results file") as info:
        coco.read(write(tmp_path, results, "detections.json"))
    assert info.value.where == "detections.json"


def annotation(index: int, **changes: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        data["annotations"][index].update(changes)

    return change


def drop(key: str, index: int | None = None, collection: str = "annotations") -> Any:
    def change(data: dict[str, Any]) -> None:
        if index is None:
            del data[key]
        else:
            del data[collection][index][key]

    return change


def image(index: int, **changes: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        data["images"][index].update(changes)

    return change


def category(index: int, **changes: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        data["categories"][index].update(changes)

    return change


REFUSALS = [
    (lambda d: d.clear() or d.update(images=7), "", "`images` is a list, not int"),
    (drop("images"), "", "no `images` list: not a COCO instances file"),
    (drop("categories"), "", "no `categories` list"),
    (image(1, id=1), "images[1] (id 1)", "image id 1 is used twice"),
    (image(1, file_name="street/a.jpg"), "images[1] (id 2)", "two images are named 'street/a.jpg'"),
    (drop("file_name", 0, "images"), "images[0] (id 1)", "an image without a file_name"),
    (drop("id", 0, "images"), "images[0]", "an image without an id"),
    (image(0, id=1.5), "images[0]", "an id is a number or a string, not 1.5"),
    (image(0, width=-3), "images[0] (id 1)", "width -3 is not a positive whole number"),
    (image(0, height="30"), "images[0] (id 1)", "height '30' is not a positive whole number"),
    (category(1, id=1), "categories[1]", "category id 1 is used twice"),
    (category(1, name="car"), "categories[1]", "two categories are named 'car'"),
    (category(1, name=""), "categories[1]", "a category without a name"),
    (category(2, keypoints=["a", "a"]), "categories[2]", "a keypoint name is given twice"),
    (category(2, keypoints="head"), "categories[2]", "`keypoints` of a category is a list"),
    (category(2, skeleton=[[1, 3]]), "categories[2]", r"edge \[1, 3\] is not two keypoint numbers"),
    (annotation(1, id=10), "annotations[1] (id 10)", "annotation id 10 is used twice"),
    (annotation(0, image_id=99), "annotations[0] (id 10)", "image_id 99 is not among the images"),
    (annotation(0, category_id=9), "annotations[0] (id 10)", "category_id 9 is not among the"),
    (annotation(0, image_id=[1]), "annotations[0] (id 10)", r"image_id \[1\] is not among"),
    (annotation(0, image_id=True), "annotations[0] (id 10)", "image_id True is not among"),
    (annotation(0, category_id=1.0), "annotations[0] (id 10)", "category_id 1.0 is not among"),
    (
        annotation(0, bbox=[1, 2, 3]),
        "annotations[0] (id 10)",
        r"bbox \[1, 2, 3\] is not four numbers",
    ),
    (annotation(0, bbox=[1, 2, "3", 4]), "annotations[0] (id 10)", "is not four numbers x, y"),
    (annotation(0, bbox=[1, 2, True, 4]), "annotations[0] (id 10)", "is not four numbers x, y"),
    (annotation(0, bbox=[1, 2, -3, 4]), "annotations[0] (id 10)", "a negative width or height"),
    (annotation(0, bbox=None), "annotations[0] (id 10)", "bbox None is not four numbers"),
    (annotation(0, segmentation="x"), "annotations[0] (id 10)", "segmentation is a list of"),
    (
        annotation(1, segmentation=[[0, 0, 1, 1]]),
        "annotations[1] (id 11) segmentation[0]",
        "a polygon has 4 numbers: it needs pairs, at least three",
    ),
    (
        annotation(1, segmentation=[[0, 0, 1, 1, 2, 2, 3]]),
        "annotations[1] (id 11) segmentation[0]",
        "a polygon has 7 numbers",
    ),
    (
        annotation(1, segmentation=[[0, 0, 1, None, 2, 2]]),
        "annotations[1] (id 11) segmentation[0]",
        "a polygon is a list of numbers",
    ),
    (
        annotation(3, segmentation={"size": [H, W + 1], "counts": [0, H * (W + 1)]}),
        "annotations[3] (id 13)",
        r"RLE size \[30, 41\] is not the image's \[height, width\] \[30, 40\]",
    ),
    (
        annotation(3, segmentation={"size": [H], "counts": [0]}),
        "annotations[3] (id 13)",
        r"RLE size \[30\] is not \[height, width\]",
    ),
    (
        annotation(3, segmentation={"size": [H, W], "counts": [0, 5]}),
        "annotations[3] (id 13)",
        "RLE runs cover 5 pixels .or hold a negative run.; a 40x30 mask has 1200",
    ),
    (
        annotation(3, segmentation={"size": [H, W], "counts": [-5, 1205]}),
        "annotations[3] (id 13)",
        "hold a negative run",
    ),
    (
        annotation(3, segmentation={"size": [H, W], "counts": "abc~"}),
        "annotations[3] (id 13)",
        "RLE counts string is not COCO's compressed form",
    ),
    (
        annotation(3, segmentation={"size": [H, W], "counts": "a"}),  # ends inside a number
        "annotations[3] (id 13)",
        "RLE counts string is not COCO's compressed form",
    ),
    (
        annotation(3, segmentation={"size": [H, W], "counts": [0.5, 1199.5]}),
        "annotations[3] (id 13)",
        "RLE counts are a string or a list of whole numbers",
    ),
    (
        annotation(5, keypoints=[5, 6, 2, 0, 0]),
        "annotations[5] (id 15)",
        "keypoints are a list of numbers x, y, v",
    ),
    (
        annotation(5, keypoints=[5, 6, 2]),
        "annotations[5] (id 15)",
        "1 keypoints; the category names 2",
    ),
    (
        annotation(5, keypoints=[5, 6, 3, 0, 0, 0]),
        "annotations[5] (id 15)",
        "keypoint 1 has visibility 3, not 0, 1 or 2",
    ),
    (annotation(6, score=1.5), "annotations[6] (id 16)", "score 1.5 is not a number from 0 to 1"),
    (annotation(6, score="high"), "annotations[6] (id 16)", "score 'high' is not a number"),
    (annotation(6, attributes=["a"]), "annotations[6] (id 16)", "attributes are a JSON object"),
    (annotation(6, id=[1]), "annotations[6]", r"an id is a number or a string, not \[1\]"),
]


@pytest.mark.parametrize(("change", "where", "message"), REFUSALS)
def test_refusals(change: Any, where: str, message: str, tmp_path: Path) -> None:
    data = document()
    change(data)
    with pytest.raises(ForeignFormatError, match=message) as info:
        coco.read(write(tmp_path, data))
    assert info.value.where == ("instances.json: " + where if where else "instances.json")


def test_not_an_object(tmp_path: Path) -> None:
    with pytest.raises(ForeignFormatError, match="a COCO file is a JSON object"):
        coco.read(write(tmp_path, "text"))
    data = document()
    data["annotations"][0] = [1, 2]
    with pytest.raises(ForeignFormatError, match="an annotation is a JSON object"):
        coco.read(write(tmp_path, data))


def test_an_image_info_file_without_annotations(tmp_path: Path) -> None:
    data = {"images": document()["images"]}  # COCO's test-set image lists look like this
    found = coco.read(write(tmp_path, data))
    assert [i.name for i in found.images] == ["street/a.jpg", "b.png", "empty.jpg"]


def test_an_empty_outline_is_a_box(tmp_path: Path) -> None:
    data = document()
    data["annotations"][0]["segmentation"] = [[]]
    found = coco.read(write(tmp_path, data))
    assert found.images[0].shapes[0] == ForeignShape("car", "bbox", bbox=(1, 2, 10, 5))


def test_num_keypoints_that_do_not_count_the_points_is_noted(tmp_path: Path) -> None:
    data = document()
    data["annotations"][5]["num_keypoints"] = 2
    found = coco.read(write(tmp_path, data))
    assert (
        "1 keypoint annotations whose num_keypoints is not the number labeled (not used)"
        in found.notes
    )


def test_fifty_thousand_boxes_read_quickly(tmp_path: Path) -> None:
    # issue 20: 10,000 images and 50,000 boxes in well under 10 s (about 1 s here)
    data = copy.deepcopy(document())
    data["images"] = [
        {"id": i, "file_name": f"{i}.jpg", "width": 1920, "height": 1080} for i in range(10_000)
    ]
    data["annotations"] = [
        {"id": k, "image_id": k % 10_000, "category_id": 1 + k % 2, "bbox": [k % 1800, 5, 40, 30],
         "area": 1200, "iscrowd": 0, "segmentation": []}
        for k in range(50_000)
    ]  # fmt: skip
    path = write(tmp_path, data)
    started = time.perf_counter()
    found = coco.read(path)
    assert time.perf_counter() - started < 10
    assert sum(len(i.shapes) for i in found.images) == 50_000


# ----- our own export, read back -----------------------------------------------------------


def unzip(files: dict[str, bytes], folder: Path) -> Path:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def test_our_coco_export_reads_back_shape_by_shape(tmp_path: Path) -> None:
    files, _ = build(tmp_path, formats=("coco",))
    found = coco.read(unzip(files, tmp_path / "package") / "coco")
    assert [i.name for i in found.images] == [image_file_name(i.item_id, i.format) for i in ITEMS]
    assert found.skeletons == {"pose": ("head", "left_hand", "right_hand", "hip")}
    names = {c.id: c.name for c in ONTOLOGY.classes}
    for image, item in zip(found.images, ITEMS, strict=True):
        assert (image.width, image.height) == (item.width, item.height)
        written = [s for s in item.shapes if s.kind in COCO_KINDS]
        assert [(s.label, s.kind) for s in image.shapes] == [
            (names[s.class_id], s.kind) for s in written
        ]
    mapped = map_onto(found, ONTOLOGY)
    assert mapped.report.ok, mapped.report.refused
    for item in ITEMS:
        name = image_file_name(item.item_id, item.format)
        # COCO has no polylines, classifications or attributes
        expected = tuple(
            s.model_copy(update={"attributes": {}}) for s in item.shapes if s.kind in COCO_KINDS
        )
        assert mapped.annotations[name].shapes == expected


def test_our_coco_masks_read_back_pixel_for_pixel(tmp_path: Path) -> None:
    files, _ = with_masks.package(tmp_path, formats=("coco",))
    found = coco.read(unzip(files, tmp_path / "package") / "coco/annotations.json")
    mapped = map_onto(found, with_masks.ONTOLOGY, source_model="import:coco")
    assert mapped.report.ok, mapped.report.refused
    [image] = found.images
    shapes = mapped.annotations[image.name].shapes
    originals = with_masks.STREET.shapes
    assert [s.class_id for s in shapes] == [s.class_id for s in originals]
    for got, original in zip(shapes, originals, strict=True):
        assert got.source is not None and got.source.model == "import:coco"  # a pre-label
        assert got.source.confidence is None  # our COCO writes no score
        if isinstance(original, MaskShape):
            assert isinstance(got, MaskShape)
            assert (masks.decode(got.rle) == masks.decode(original.rle)).all()
        else:
            assert got.model_copy(update={"source": None}) == original.model_copy(
                update={"source": None}
            )
