"""The YOLO reader (client/aviary/interop/yolo.py): data.yaml read without a YAML library (and
checked against one), the dataset layouts of Ultralytics, Roboflow and CVAT, detect, segment and
pose labels turned into pixels by the size of the image beside them, every refusal with its
message, and our own YOLO export read back and mapped onto the ontology it came from."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from aviary.contracts.shapes import BoxShape, PolygonShape, Shape
from aviary.interop import yolo
from aviary.interop.foreign import ForeignFormatError, ForeignImage, ForeignShape
from aviary.interop.mapping import map_onto
from services.export.formats import PackageItem, PackageSpec, PackageWriter
from services.export.formats.model import image_file_name
from services.export.formats.yolo import data_yaml
from tests.unit.test_export_formats import ITEMS, NAMES, NASTY, ONTOLOGY, WEIRD, build


def picture(size: tuple[int, int], fmt: str = "JPEG", orientation: int | None = None) -> bytes:
    """An image of `size` as stored; with an EXIF orientation of 5 to 8 it is shown turned."""
    options: dict[str, Any] = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif
    out = io.BytesIO()
    Image.new("RGB", size, (90, 120, 30)).save(out, fmt, **options)
    return out.getvalue()


def tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    return root


# ----- data.yaml -------------------------------------------------------------------------------

YAMLS = {
    "block list": """# Ultralytics-style
path: ../datasets/things  # dataset root
train: images/train
val: images/val
test:  # none
nc: 2
names:
  - person
  - "bi cycle"
""",
    "list at the key's indent": "names:\n- a\n- 'b # not a comment'\nnc: 2\n",
    "mapping": "names:\n  0: person\n  1: 'it''s'\n  2: \"say \\\"hi\\\"\"\n",
    "flow list over lines": "nc: 3\nnames: ['a', \"b\",\n        c]  # three\n",
    "flow mapping": "names: {0: a, 1: 'b, c', 2: \"d: e\"}\n",
    "block scalar and other keys skipped": (
        "names:\n  0: cat\n  1: dog\ndownload: |\n  names = ['x']\n  nc: 7\n"
        "roboflow:\n  workspace: w\n  version: 2\ntest:\n- images/test\n-\n"
    ),
    "pose": "kpt_shape: [17, 3]\nflip_idx: [0, 2, 1]\nnames:\n  0: person\n",
    "escapes": 'names: ["\\x01\\u00fc\\U0001F697\\t\\\\", "\\N\\_\\L\\P\\e\\0", plain]  # c\n',
    "document markers": "---\nnames: [a]\n...\n",
}


@pytest.mark.parametrize("text", YAMLS.values(), ids=YAMLS.keys())
def test_data_yaml_reads_as_a_yaml_library_does(text: str) -> None:
    expected = yaml.safe_load(text)
    names = expected["names"]
    if isinstance(names, list):
        names = dict(enumerate(names))
    classes = yolo.parse_data_yaml(text)
    assert classes.names == {int(k): str(v) for k, v in names.items()}
    assert classes.kpt_shape == (tuple(expected["kpt_shape"]) if "kpt_shape" in expected else None)


def test_our_data_yaml_reads_back_exactly() -> None:
    tricky = [*NAMES, "a: b # c", "- dash", "'single' \\", "\x00\x07\x85\xa0", "\u2028\ufeff"]
    tricky += ["null", "yes", "1e3", "日本語 🚗"]
    assert yolo.parse_data_yaml(data_yaml(tricky).decode()).names == dict(enumerate(tricky))


YAML_REFUSALS = [
    ("nc: 2\n", "data.yaml", "no `names`: the class names are unknown"),
    ("names: [a, b]\nnc: 3\n", "data.yaml:2", "nc is '3', but names has 2"),
    ("names: [a]\nkpt_shape: [17, 4]\n", "data.yaml:2", r"kpt_shape \['17', '4'\] is not"),
    ("names:\n  a: person\n", "data.yaml:1", "names: 'a' is not a class number"),
    ("names: ['\\x']\n", "data.yaml:1", ""),  # single quotes: a backslash is just a backslash
    ('names: ["\\q"]\n', "data.yaml:1", r"an unknown escape \\q"),
    ('names: ["\\xZZ"]\n', "data.yaml:1", r"a bad escape \\xZZ"),
    ('names:\n  - "open\n', "data.yaml:2", "a double-quoted name without its closing quote"),
    ("names:\n  - 'open\n", "data.yaml:2", "a single-quoted name without its closing quote"),
    ("names:\n  - a\n  1: b\n", "data.yaml", "a list and a mapping mixed"),
    ("names:\n  0: a\n  0: b\n", "data.yaml:3", "'0' is given twice"),
    ("names:\n  just text\n", "data.yaml:2", "expected `- name` or `number: name`"),
    ("names [a]\n", "data.yaml:1", "expected `key: value`"),
    ("names: [a, b\n", "data.yaml:1", "no closing bracket"),
    ("names: [a] b\n", "data.yaml:1", "text after the closing bracket"),
    ("names: {0 a}\n", "data.yaml:1", "a mapping entry without `:`"),
    ("names: ['a' 'b']\n", "data.yaml:1", "a missing comma or closing bracket"),
    ("names: 'a' b\n", "data.yaml:1", "text after a quoted name"),
    ("names: person\n", "data.yaml:1", "names is a list, or a mapping of class numbers"),
    ("names: ['']\n", "data.yaml:1", "names are non-empty names"),
    ("names: []\n", "data.yaml:1", "names are non-empty names"),
]


@pytest.mark.parametrize(("text", "where", "message"), YAML_REFUSALS)
def test_data_yaml_refusals(text: str, where: str, message: str) -> None:
    if not message:
        assert yolo.parse_data_yaml(text).names == {0: "\\x"}
        return
    with pytest.raises(ForeignFormatError, match=message) as info:
        yolo.parse_data_yaml(text)
    assert info.value.where == where


def test_names_from_classes_txt_or_obj_names(tmp_path: Path) -> None:
    tree(tmp_path / "a", {"classes.txt": "car\nred light\n\n"})
    assert yolo.read_classes(tmp_path / "a").names == {0: "car", 1: "red light"}
    tree(tmp_path / "b", {"obj.names": "\ufeffcar\r\nbus\r\n"})
    assert yolo.read_classes(tmp_path / "b").names == {0: "car", 1: "bus"}
    # data.yaml wins: its names are exact where classes.txt had to flatten line breaks
    tree(tmp_path / "c", {"classes.txt": "x\n", "data.yaml": "names: [y]\n"})
    assert yolo.read_classes(tmp_path / "c").names == {0: "y"}


@pytest.mark.parametrize(
    ("files", "where", "message"),
    [
        ({"classes.txt": "car\n\nbus\n"}, "classes.txt:2", "an empty class name"),
        ({"classes.txt": "\n\n"}, "classes.txt", "no class names"),
        ({"classes.txt": b"\xff\xfe"}, "classes.txt", "not UTF-8 text"),
        ({"labels/a.txt": "0 0.5 0.5 0.1 0.1\n"}, "", "no data.yaml, classes.txt or obj.names"),
    ],
)
def test_class_name_refusals(
    files: dict[str, str | bytes], where: str, message: str, tmp_path: Path
) -> None:
    tree(tmp_path, files)
    with pytest.raises(ForeignFormatError, match=message) as info:
        yolo.read(tmp_path)
    assert info.value.where == (where or str(tmp_path))


# ----- datasets --------------------------------------------------------------------------------


def test_ultralytics_layout_detect_and_segment(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "data.yaml": "path: .\ntrain: images/train\nval: images/val\nnames: [car, road]\n",
            # stored 60x40, shown turned a quarter: 40 wide, 60 high
            "images/train/a.jpg": picture((60, 40), orientation=6),
            "labels/train/a.txt": "0 0.5 0.5 0.5 0.5\n\n1 0.1 0.1 0.9 0.1 0.5 0.9\n",
            "images/val/b.png": picture((100, 50), "PNG"),
            "labels/val/b.txt": "",
            "images/val/c.webp": picture((30, 20), "WEBP"),  # no label: a background image
        },
    )
    found = yolo.read(tmp_path)
    assert found.format == "yolo"
    assert found.images == [
        ForeignImage(
            "images/train/a.jpg",
            40,
            60,
            (
                # centre (20, 30), size (20, 30)
                ForeignShape("car", "bbox", bbox=(10, 15, 20, 30)),
                ForeignShape("road", "polygon", points=((4, 6), (36, 6), (20, 54))),
            ),
        ),
        ForeignImage("images/val/b.png", 100, 50, ()),
        ForeignImage("images/val/c.webp", 30, 20, ()),
    ]
    assert found.notes == []
    assert yolo.read(tmp_path / "data.yaml") == found  # the data.yaml names its folder


def test_pose_labels(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "data.yaml": "kpt_shape: [3, 3]\nnames:\n  0: person\n  1: ball\n",
            "images/a.png": picture((200, 100), "PNG"),
            "labels/a.txt": (
                "0 0.5 0.5 0.4 0.8 0.25 0.5 2 0.5 0.25 1.0 0.9 0.9 0\n"
                "1 0.125 0.125 0.25 0.25\n"  # a box in a pose dataset
            ),
        },
    )
    [image] = yolo.read(tmp_path).images
    assert image.shapes == (
        # the third point is not labeled: (0, 0), as COCO and Aviary keep it
        ForeignShape("person", "keypoints", keypoints=((50, 50, 2), (100, 25, 1), (0, 0, 0))),
        ForeignShape("ball", "bbox", bbox=(0, 0, 50, 25)),
    )
    assert yolo.read(tmp_path).notes == [
        "1 boxes of pose labels dropped (an Aviary keypoints shape has none)"
    ]


def test_pose_labels_with_two_numbers_a_point_are_visible(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "data.yaml": "kpt_shape: [2, 2]\nnames: [person]\n",
            "images/a.jpg": picture((200, 100)),
            "labels/a.txt": "0 0.5 0.5 0.4 0.8 0.25 0.5 0.5 0.25\n",
        },
    )
    [image] = yolo.read(tmp_path).images
    assert image.shapes[0].keypoints == ((50, 50, 2), (100, 25, 2))


def test_roboflow_layout(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "data.yaml": "train: ../train/images\nval: ../valid/images\nnc: 1\nnames: ['car']\n",
            "README.roboflow.txt": "not a label",
            "train/images/x.jpg": picture((10, 10)),
            "train/labels/x.txt": "0 0.5 0.5 1 1\n",
            "valid/images/y.JPG": picture((20, 10)),
            "valid/labels/y.txt": "0 0.5 0.5 0.5 0.5\n",
        },
    )
    found = yolo.read(tmp_path)
    assert [(i.name, i.shapes[0].bbox) for i in found.images] == [
        ("train/images/x.jpg", (0, 0, 10, 10)),
        ("valid/images/y.JPG", (5, 2.5, 10, 5)),
    ]


def test_cvat_yolo_1_1_layout(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "obj.names": "car\nbus\n",
            "obj.data": "classes = 2\ntrain = data/train.txt\nnames = data/obj.names\n",
            "train.txt": "data/obj_train_data/a.jpg\n",
            "obj_train_data/a.jpg": picture((100, 100)),
            "obj_train_data/a.txt": "1 0.5 0.5 0.2 0.2\n",
        },
    )
    [image] = yolo.read(tmp_path).images
    assert image.name == "obj_train_data/a.jpg"
    assert image.shapes == (ForeignShape("bus", "bbox", bbox=(40, 40, 20, 20)),)


def test_sizes_given_for_labels_without_images(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "classes.txt": "car\n",
            "labels/a.txt": "0 0.5 0.5 0.5 0.5\n",
            "labels/b.txt": "0 0.5 0.5 0.5 0.5\n",
            "images/c.jpg": picture((10, 10)),
            "labels/c.txt": "0 0.5 0.5 0.5 0.5\n",
        },
    )
    found = yolo.read(tmp_path, sizes={"uploads/a.jpg": (200, 100), "b": (40, 20), "c.jpg": (8, 6)})
    assert [(i.name, i.width, i.height, i.shapes[0].bbox) for i in found.images] == [
        ("uploads/a.jpg", 200, 100, (50, 25, 100, 50)),
        ("b", 40, 20, (10, 5, 20, 10)),
        ("images/c.jpg", 8, 6, (2, 1.5, 4, 3)),  # the size given wins over the file's
    ]


LABEL_REFUSALS = [
    ("5 0.5 0.5 0.1 0.1", "class 5 is not among the names .0, 1."),
    ("car 0.5 0.5 0.1 0.1", "the class 'car' is not a class number"),
    ("1.0 0.5 0.5 0.1 0.1", "the class '1.0' is not a class number"),
    ("0 0.5 abc 0.1 0.1", "'abc' is not a number"),
    ("0 0.5 nan 0.1 0.1", "'nan' is not a number"),
    ("0 0.5 0.5 -0.1 0.1", "a box with a negative width or height"),
    ("0 0.5 0.5 0.1", r"3 numbers after the class; expected 4 \(a box\) or an even number from 6"),
    ("0 0.5 0.5 0.1 0.1 0.2 0.2 0.3", "7 numbers after the class"),
]


@pytest.mark.parametrize(("line", "message"), LABEL_REFUSALS)
def test_label_refusals(line: str, message: str, tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "classes.txt": "car\nbus\n",
            "images/a.jpg": picture((10, 10)),
            "labels/a.txt": f"0 0.5 0.5 0.1 0.1\n{line}\n",
        },
    )
    with pytest.raises(ForeignFormatError, match=message) as info:
        yolo.read(tmp_path)
    assert info.value.where == "labels/a.txt:2"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "0 0.5 0.5 0.1 0.1 0.2 0.2 2",
            r"7 numbers after the class; expected .* or 10 \(a box and 2 keypoints\)",
        ),
        ("0 0.5 0.5 0.1 0.1 0.2 0.2 2 0.3 0.3 3", "keypoint 2 has visibility 3, not 0, 1 or 2"),
        ("0 0.5 0.5 0.1 0.1 0.2 0.2 0.5 0.3 0.3 2", "keypoint 1 has visibility 0.5"),
    ],
)
def test_pose_refusals(line: str, message: str, tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "data.yaml": "kpt_shape: [2, 3]\nnames: [person]\n",
            "images/a.jpg": picture((10, 10)),
            "labels/a.txt": line,
        },
    )
    with pytest.raises(ForeignFormatError, match=message) as info:
        yolo.read(tmp_path)
    assert info.value.where == "labels/a.txt:1"


def test_a_label_without_its_image_is_refused(tmp_path: Path) -> None:
    tree(tmp_path, {"classes.txt": "car\n", "labels/train/a.txt": "0 0.5 0.5 0.1 0.1\n"})
    with pytest.raises(ForeignFormatError) as info:
        yolo.read(tmp_path, sizes={"other.jpg": (10, 10)})
    assert info.value.where == "labels/train/a.txt"
    assert str(info.value).endswith(
        "no image of that name (.jpg, .jpeg, .png, .webp) and no size given:"
        " the size its coordinates are fractions of is unknown"
    )
    with pytest.raises(ForeignFormatError, match=r"`sizes` has several images of that name"):
        yolo.read(tmp_path, sizes={"a.jpg": (10, 10), "a.png": (20, 20)})


@pytest.mark.parametrize(
    ("files", "where", "message"),
    [
        (
            {"images/a.jpg": picture((10, 10)), "images/a.png": picture((10, 10), "PNG")},
            "images/a.png",
            "two images for one label file: images/a.jpg and images/a.png",
        ),
        ({"images/a.jpg": b"not really"}, "images/a.jpg", "its size cannot be read: not a JPEG"),
        ({"labels/a.txt": b"\xff\xfe0 0.5"}, "labels/a.txt", "not UTF-8 text"),
    ],
)
def test_dataset_refusals(
    files: dict[str, str | bytes], where: str, message: str, tmp_path: Path
) -> None:
    files = {"classes.txt": "car\n", "images/a.jpg": picture((10, 10)), **files}
    files.setdefault("labels/a.txt", "")
    tree(tmp_path, files)
    with pytest.raises(ForeignFormatError, match=message) as info:
        yolo.read(tmp_path)
    assert info.value.where == where


def test_two_labels_for_one_given_size_are_refused(tmp_path: Path) -> None:
    tree(tmp_path, {"classes.txt": "car\n", "labels/train/a.txt": "", "labels/val/a.txt": ""})
    with pytest.raises(ForeignFormatError, match=r"a second label for image 'a\.jpg'") as info:
        yolo.read(tmp_path, sizes={"a.jpg": (10, 10)})
    assert info.value.where == "labels/val/a.txt"


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ForeignFormatError, match="not a folder"):
        yolo.read(tmp_path / "missing")
    tree(tmp_path, {"labels/a.txt": "0 0.5 0.5 0.1 0.1\n"})
    with pytest.raises(ForeignFormatError, match=r"give the dataset's folder, or its data\.yaml"):
        yolo.read(tmp_path / "labels" / "a.txt")


# ----- our own export, read back -----------------------------------------------------------

# How each sample item's image is stored: ROTATED is 640x480 on disk with an EXIF rotation,
# displayed (and annotated) 480x640; YOLO's fractions are of the displayed size.
STORED = {
    "itm_street": ((640, 480), "JPEG", None),
    "itm_rotated": ((640, 480), "JPEG", 6),
    "itm_shapes": ((100, 100), "PNG", None),
    "itm_empty": ((800, 600), "WEBP", None),
}


def with_images(tmp_path: Path, formats: tuple[str, ...]) -> Path:
    """A package of the sample items with their images, unpacked."""
    items = tuple(
        dataclasses.replace(item, image_bytes=picture(*STORED[item.item_id])) for item in ITEMS
    )
    spec = PackageSpec(
        delivery_id="dlv_import",
        kind="full",
        project_id="prj_1",
        batch_id="bat_1",
        ontology=ONTOLOGY,
        project_version=2,
        formats=formats,
        include_images=True,
        include_people=False,
    )
    (tmp_path / "work").mkdir()
    with PackageWriter(tmp_path / "delivery.zip", tmp_path / "work", spec) as writer:
        for item in items:
            writer.add(item)
        writer.close()
    with zipfile.ZipFile(tmp_path / "delivery.zip") as zf:
        zf.extractall(tmp_path / "package")
    return tmp_path / "package"


def close_to(got: tuple[Shape, ...], expected: tuple[Shape, ...], size: int) -> None:
    """Shape by shape, within YOLO's 6 decimals of the image's size."""
    tolerance = 1e-6 * size
    assert [(s.kind, s.class_id, s.attributes) for s in got] == [
        (s.kind, s.class_id, s.attributes) for s in expected
    ]
    for a, b in zip(got, expected, strict=True):
        if isinstance(a, BoxShape) and isinstance(b, BoxShape):
            assert a.bbox == pytest.approx(b.bbox, abs=tolerance)
        elif isinstance(a, PolygonShape) and isinstance(b, PolygonShape):
            assert [c for p in a.points for c in p] == pytest.approx(
                [c for p in b.points for c in p], abs=tolerance
            )
        else:
            raise AssertionError(f"unexpected {a.kind}")


def expected_shapes(item: PackageItem, kind: str) -> tuple[Shape, ...]:
    # YOLO carries no attributes (the person's `occluded` stays behind)
    return tuple(s.model_copy(update={"attributes": {}}) for s in item.shapes if s.kind == kind)


def test_our_yolo_export_with_images_reads_back(tmp_path: Path) -> None:
    package = with_images(tmp_path, ("yolo",))
    detect = yolo.read(package / "yolo")
    by_name = {image.name: image for image in detect.images}
    assert sorted(by_name) == sorted(
        f"images/{image_file_name(i.item_id, i.format)}" for i in ITEMS
    )
    for item in ITEMS:
        image = by_name[f"images/{image_file_name(item.item_id, item.format)}"]
        assert (image.width, image.height) == (item.width, item.height)  # the rotated one too
    mapped = map_onto(detect, ONTOLOGY)
    assert mapped.report.ok, mapped.report.refused
    for item in ITEMS:
        got = mapped.annotations[f"images/{image_file_name(item.item_id, item.format)}"].shapes
        close_to(got, expected_shapes(item, "bbox"), max(item.width, item.height))
    # the names are exact (data.yaml), even NASTY's and WEIRD's
    assert {s.label for i in detect.images for s in i.shapes} == {
        "car",
        "person",
        NASTY,
        WEIRD,
    }

    segment = yolo.read(package / "yolo-seg")
    mapped = map_onto(segment, ONTOLOGY)
    assert mapped.report.ok, mapped.report.refused
    for item in ITEMS:
        got = mapped.annotations[f"images/{image_file_name(item.item_id, item.format)}"].shapes
        close_to(got, expected_shapes(item, "polygon"), max(item.width, item.height))


def test_our_yolo_export_without_images_reads_back_with_sizes(tmp_path: Path) -> None:
    files, _ = build(tmp_path, formats=("yolo",))
    package = tree(tmp_path / "package", dict(files))
    sizes = {image_file_name(i.item_id, i.format): (i.width, i.height) for i in ITEMS}
    found = yolo.read(package / "yolo", sizes=sizes)
    mapped = map_onto(found, ONTOLOGY)
    assert mapped.report.ok, mapped.report.refused
    for item in ITEMS:
        got = mapped.annotations[image_file_name(item.item_id, item.format)].shapes
        close_to(got, expected_shapes(item, "bbox"), max(item.width, item.height))
