"""The Pascal VOC reader (client/aviary/interop/voc.py): CVAT's, labelImg's and the devkit's
documents, entity declarations refused, every refusal with its message, and our own VOC export
read back and mapped onto the ontology it came from (boxes, in whole pixels)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aviary.contracts.shapes import BoxShape, Shape
from aviary.interop import voc
from aviary.interop.foreign import ForeignFormatError, ForeignImage, ForeignShape
from aviary.interop.mapping import map_onto
from services.export.formats import PackageItem
from services.export.formats.model import image_file_name
from services.export.formats.text import xml_text
from services.export.formats.voc import VOC_KINDS, pixel
from shared.domain.geometry import shape_box
from tests.unit import test_export_masks as with_masks
from tests.unit.test_export_formats import ITEMS, ONTOLOGY, WEIRD, build

CVAT = """<?xml version="1.0" encoding="utf-8"?>
<annotation>
  <folder></folder>
  <filename>frames/frame_000001.jpg</filename>
  <source><database>Unknown</database><annotation>Unknown</annotation></source>
  <size><width>640</width><height>480</height><depth></depth></size>
  <segmented>0</segmented>
  <object>
    <name>car</name>
    <truncated>0</truncated>
    <occluded>1</occluded>
    <difficult>0</difficult>
    <bndbox><xmin>10.5</xmin><ymin>20.25</ymin><xmax>110.5</xmax><ymax>80.25</ymax></bndbox>
    <attributes>
      <attribute><name>colour</name><value>red</value></attribute>
      <attribute><name>parked</name><value>true</value></attribute>
    </attributes>
  </object>
</annotation>
"""

DEVKIT = """<annotation>
  <folder>VOC2012</folder>
  <filename>2007_000129.jpg</filename>
  <size><width>334</width><height>500</height><depth>3</depth></size>
  <segmented>1</segmented>
  <object>
    <name>person</name>
    <pose>Frontal</pose>
    <truncated>1</truncated>
    <difficult>0</difficult>
    <bndbox><xmin>1</xmin><ymin>2</ymin><xmax>334</xmax><ymax>500</ymax></bndbox>
    <part><name>head</name><bndbox><xmin>5</xmin><ymin>6</ymin><xmax>7</xmax><ymax>8</ymax>
    </bndbox></part>
    <actions><jumping>1</jumping><other>0</other></actions>
  </object>
  <object>
    <name> bicycle </name>
    <pose>Unspecified</pose>
    <bndbox><xmin>70</xmin><ymin>202</ymin><xmax>255</xmax><ymax>500</ymax></bndbox>
    <polygon><x1>70</x1><y1>202</y1></polygon>
  </object>
</annotation>
"""

LABELIMG = """<annotation>
  <folder>imgs</folder>
  <path>C:\\data\\imgs\\img 1.png</path>
  <size><width>0</width><height>0</height><depth>3</depth></size>
  <object>
    <name>dog</name>
    <bndbox><xmin>3</xmin><ymin>4</ymin><xmax>3</xmax><ymax>9</ymax></bndbox>
  </object>
</annotation>
"""


def write(folder: Path, **documents: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in documents.items():
        path = folder / f"{name}.xml"
        if isinstance(text, str):
            path.write_text(text)
        else:
            path.write_bytes(text)
    return folder


def test_cvat_document(tmp_path: Path) -> None:
    found = voc.read(write(tmp_path, one=CVAT) / "one.xml")
    assert found.format == "voc"
    assert found.images == [
        ForeignImage(
            "frames/frame_000001.jpg",
            640,
            480,
            (
                ForeignShape(
                    "car",
                    "bbox",
                    bbox=(10.5, 20.25, 100, 60),
                    attributes={
                        "difficult": False,
                        "truncated": False,
                        "occluded": True,
                        "colour": "red",
                        "parked": True,
                    },
                ),
            ),
        )
    ]
    assert found.notes == []


def test_devkit_document_with_what_aviary_cannot_keep(tmp_path: Path) -> None:
    found = voc.read(write(tmp_path / "Annotations", a=DEVKIT).parent)
    [image] = found.images
    person, bicycle = image.shapes
    # read as written: the devkit's 1-based corners are not shifted (see the module docstring)
    assert person == ForeignShape(
        "person",
        "bbox",
        bbox=(1, 2, 333, 498),
        attributes={"difficult": False, "truncated": True},
    )
    assert bicycle == ForeignShape("bicycle", "bbox", bbox=(70, 202, 185, 298))
    assert sorted(found.notes) == [
        "1 object actions dropped",
        "1 object outlines (<polygon>) dropped: read as their box",
        "1 object parts (person layout) dropped",
        "1 object poses (Left, Frontal...) dropped",
        "1 segmented images whose masks (SegmentationObject PNGs) were not read",
    ]


def test_labelimg_document_names_its_image_by_path(tmp_path: Path) -> None:
    found = voc.read(write(tmp_path, b=LABELIMG))
    [image] = found.images
    assert (image.name, image.width, image.height) == ("img 1.png", None, None)
    assert image.shapes == (ForeignShape("dog", "bbox", bbox=(3, 4, 0, 5)),)
    assert found.notes == ["2 image sizes of 0 read as unknown"]


def test_a_folder_of_xml_files_in_name_order(tmp_path: Path) -> None:
    found = voc.read(write(tmp_path, b=LABELIMG, a=CVAT))
    assert [i.name for i in found.images] == ["frames/frame_000001.jpg", "img 1.png"]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<annotation><filename>&lol2;</filename></annotation>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE annotation [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<annotation><filename>&secret;</filename></annotation>
"""
DOCTYPE_ONLY = '<?xml version="1.0"?>\n<!DOCTYPE annotation>\n<annotation/>\n'


def replace(old: str, new: str) -> str:
    assert old in CVAT
    return CVAT.replace(old, new)


REFUSALS = [
    (BILLION_LAUGHS, "a DOCTYPE or ENTITY declaration: refused"),
    (EXTERNAL, "a DOCTYPE or ENTITY declaration: refused"),
    (DOCTYPE_ONLY, "a DOCTYPE or ENTITY declaration: refused"),
    ("<annotation><filename>&undefined;</filename></annotation>", "undefined entity"),
    ("<annotation><filename>a.jpg</annotation>", "not well-formed XML: mismatched tag"),
    ("", "not well-formed XML: no element found"),
    ("<labels/>", "the root element is <labels>, not <annotation>"),
    (replace("<filename>frames/frame_000001.jpg</filename>", ""), r"no <filename> \(nor <path>\)"),
    (replace("<name>car</name>", "<name> </name>"), "an object without a <name>"),
    (replace("<xmax>110.5</xmax>", ""), r"object 1 \(car\): bndbox has no <xmax>"),
    (replace("<xmax>110.5</xmax>", "<xmax>big</xmax>"), "xmax 'big' is not a number"),
    (replace("<xmax>110.5</xmax>", "<xmax>inf</xmax>"), "xmax 'inf' is not a number"),
    (replace("<xmax>110.5</xmax>", "<xmax>5</xmax>"), r"bndbox \(10.5, 20.25\) to \(5, 80.25\)"),
    (replace("<occluded>1</occluded>", "<occluded>maybe</occluded>"), "<occluded> is 'maybe'"),
    (replace("<width>640</width>", "<width>64.5</width>"), "size/width '64.5' is not a whole"),
    (replace("<height>480</height>", "<height>-1</height>"), "size/height '-1' is not a whole"),
    (replace("<height>480</height>", "<height>x</height>"), "size/height 'x' is not a number"),
]


@pytest.mark.parametrize(("text", "message"), REFUSALS)
def test_refusals(text: str, message: str, tmp_path: Path) -> None:
    write(tmp_path, doc=text)
    with pytest.raises(ForeignFormatError, match=message) as info:
        voc.read(tmp_path / "doc.xml")
    assert info.value.where.startswith("doc.xml")


def test_an_object_without_a_box(tmp_path: Path) -> None:
    start = CVAT.index("<bndbox>")
    end = CVAT.index("</bndbox>") + len("</bndbox>")
    write(tmp_path, doc=CVAT[:start] + CVAT[end:])
    with pytest.raises(ForeignFormatError, match="an object without a <bndbox>") as info:
        voc.read(tmp_path)
    assert info.value.where == "doc.xml: object 1 (car)"


def test_two_files_for_one_image(tmp_path: Path) -> None:
    write(tmp_path, a=CVAT, b=CVAT)
    with pytest.raises(ForeignFormatError) as info:
        voc.read(tmp_path)
    assert str(info.value) == (
        "b.xml: image 'frames/frame_000001.jpg' is described by a.xml already"
    )


def test_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ForeignFormatError, match=r"no \.xml files here, nor under Annotations/"):
        voc.read(tmp_path)


# ----- our own export, read back -----------------------------------------------------------


def unzip(files: dict[str, bytes], folder: Path) -> Path:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def as_written(item: PackageItem) -> tuple[Shape, ...]:
    """The item's shapes as VOC carries them: boxes (of polygons and masks too), in whole
    pixels, no attributes."""
    boxes: list[Shape] = []
    for shape in item.shapes:
        box = shape_box(shape) if shape.kind in VOC_KINDS else None
        if box is None:
            continue
        x, y, w, h = box
        x0, y0 = pixel(x, item.width), pixel(y, item.height)
        x1, y1 = pixel(x + w, item.width), pixel(y + h, item.height)
        boxes.append(BoxShape(class_id=shape.class_id, bbox=(x0, y0, x1 - x0, y1 - y0)))
    return tuple(boxes)


def test_our_voc_export_reads_back_shape_by_shape(tmp_path: Path) -> None:
    files, _ = build(tmp_path, formats=("voc",))
    found = voc.read(unzip(files, tmp_path / "package") / "voc")
    assert found.notes == []
    names = {image_file_name(i.item_id, i.format): i for i in ITEMS}
    assert sorted(i.name for i in found.images) == sorted(names)
    for image in found.images:
        item = names[image.name]
        assert (image.width, image.height) == (item.width, item.height)
        assert all(s.attributes == {"difficult": False, "truncated": False} for s in image.shapes)

    # VOC has boxes only: the road polygons arrive as boxes, which a polygon class refuses...
    refused = map_onto(found, ONTOLOGY)
    assert not refused.report.ok
    assert "itm_shapes.png: a bbox of 'road' cannot be a polygon of class 'road'" in (
        refused.report.refused
    )
    # ... so they are left out; XML cannot hold WEIRD's \x01, which its export replaced
    mapped = map_onto(found, ONTOLOGY, rename={"road": None, xml_text(WEIRD): WEIRD})
    assert mapped.report.ok, mapped.report.refused
    assert mapped.report.dropped_attributes == 2 * 5  # difficult and truncated: not declared
    for name, item in names.items():
        expected = tuple(s for s in as_written(item) if s.class_id != 10)  # road left out
        assert mapped.annotations[name].shapes == expected


def test_our_voc_masks_read_back_as_their_boxes(tmp_path: Path) -> None:
    files, _ = with_masks.package(tmp_path, formats=("voc",))
    found = voc.read(unzip(files, tmp_path / "package") / "voc/Annotations")
    [image] = found.images
    item = with_masks.STREET
    written = as_written(item)
    assert len(written) == 3  # a box and two masks
    names = {c.id: c.name for c in with_masks.ONTOLOGY.classes}
    assert [(s.label, s.bbox) for s in image.shapes] == [
        (names[s.class_id], s.bbox) for s in written if isinstance(s, BoxShape)
    ]
